"""Photo-style augmentation: determinism, object visibility, no held-out background leaks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clip2nerf.augment import (
    HELDOUT_PHOTOS,
    TRAIN_PHOTOS,
    PhotoAugConfig,
    augment_photo,
    compose_photo,
    photos,
)
from clip2nerf.cli.main import main
from clip2nerf.data.layouts import open_dataset
from clip2nerf.errors import UserError
from clip2nerf.vlm.base import VisionLanguageModel


def _square_rgba(size=32):
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[8:24, 10:22] = (200, 30, 40, 255)
    return rgba


def test_photo_pools_are_disjoint_real_files():
    assert not set(TRAIN_PHOTOS) & set(HELDOUT_PHOTOS)
    for pool in ("train", "heldout"):
        for p in photos(pool):
            img = p.load()
            assert img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 190
            assert img.std() > 10  # a photograph, not a flat colour


def test_compose_keeps_object_visible_over_any_background():
    """The object's footprint is on the canvas at the drawn scale, and inside it the image is
    the object, not the photo: two very different backgrounds give the same pixels there."""
    rgba = _square_rgba()
    cfg = PhotoAugConfig(blur_p=0.0, jpeg_p=0.0)
    black = np.zeros((300, 400, 3), np.uint8)
    white = np.full((300, 400, 3), 255, np.uint8)
    for seed in range(5):
        a, mask_a, ops = compose_photo(rgba, black, np.random.default_rng(seed), 48, cfg)
        b, mask_b, _ = compose_photo(rgba, white, np.random.default_rng(seed), 48, cfg)
        np.testing.assert_array_equal(mask_a, mask_b)
        place = next(o for o in ops if o["op"] == "scale_place")
        nw, nh = place["size"]
        assert 0.45 * 48 - 1 <= max(nw, nh) <= 0.9 * 48 + 1
        assert abs(mask_a.sum() - nw * nh) <= 0.15 * nw * nh  # the whole box is object
        inside, outside = mask_a > 0.99, mask_a == 0
        assert inside.sum() > 0.5 * nw * nh
        diff = np.abs(a.astype(int) - b.astype(int)).mean(axis=-1)
        assert diff[inside].mean() < 1.0  # the object covers the photo
        assert diff[outside].mean() > 150  # the photo is behind it
        assert a[inside].mean(axis=0)[0] > a[inside].mean(axis=0)[2]  # still red


def test_compose_is_deterministic_and_refuses_empty_alpha():
    rgba = _square_rgba()
    bg = photos("train")[0].load()
    x = compose_photo(rgba, bg, np.random.default_rng(3), 32)
    y = compose_photo(rgba, bg, np.random.default_rng(3), 32)
    np.testing.assert_array_equal(x[0], y[0])
    assert x[2] == y[2]
    z = compose_photo(rgba, bg, np.random.default_rng(4), 32)
    assert not np.array_equal(x[0], z[0])
    with pytest.raises(UserError, match="empty alpha"):
        compose_photo(np.zeros((8, 8, 4), np.uint8), bg, np.random.default_rng(0), 16)


def _provenance(folder):
    ds = open_dataset(folder)
    return {oid: ds.get(oid).meta["augment"]["images"] for oid in ds.object_ids()}


def test_augment_photo_dataset_split_leakage_and_resume(tiny_data, tmp_path, capsys):
    train_out, query_out = tmp_path / "aug", tmp_path / "query"
    assert main(["augment", "photo", "--data", str(tiny_data), "--out", str(train_out),
                 "--views-per-object", "3", "--size", "40", "--quiet"]) == 0
    assert main(["augment", "photo", "--data", str(tiny_data), "--out", str(query_out),
                 "--split", "test", "--views-per-object", "3", "--quiet"]) == 0
    src = open_dataset(tiny_data)
    aug, query = open_dataset(train_out), open_dataset(query_out)
    assert aug.object_ids("train") == src.object_ids("train") == aug.object_ids()
    assert query.object_ids("test") == src.object_ids("test") == query.object_ids()
    assert aug.object_ids("test") == [] and query.object_ids("train") == []
    # Dataset format: views load as images, with the object's class and caption kept.
    obj = aug.get(aug.object_ids()[0])
    assert obj.n_views == 3 and obj.load_views().shape == (3, 40, 40, 4)
    assert obj.class_name == src.get(obj.object_id).class_name
    assert obj.caption == src.get(obj.object_id).caption
    # Provenance per image; the pools never mix and seeds never repeat across them.
    prov_train, prov_query = _provenance(train_out), _provenance(query_out)
    bg_train = {r["background"] for rs in prov_train.values() for r in rs}
    bg_query = {r["background"] for rs in prov_query.values() for r in rs}
    assert bg_train <= set(TRAIN_PHOTOS) and bg_query <= set(HELDOUT_PHOTOS)
    assert not bg_train & bg_query
    seeds_train = {r["seed"] for rs in prov_train.values() for r in rs}
    seeds_query = {r["seed"] for rs in prov_query.values() for r in rs}
    assert not seeds_train & seeds_query
    for rs in prov_train.values():
        for r in rs:
            assert {"view", "source_view", "seed", "background", "ops"} <= set(r)
            assert [o["op"] for o in r["ops"]][:5] == ["background_crop", "scale_place",
                                                       "object_colour", "composite", "gamma"]
    # Mask check on the written files: each image holds its object's footprint.
    for oid in aug.object_ids():
        o = aug.get(oid)
        for r in prov_train[oid]:
            from PIL import Image

            mask = np.asarray(Image.open(o.root / "masks" / f"{r['view']:02d}.png"))
            assert mask.shape == (40, 40) and (mask > 128).sum() >= 12
    # Deterministic: the same command into another folder gives the same bytes.
    again = tmp_path / "again"
    augment_photo(tiny_data, again, views_per_object=3, size=40, progress=False, log=lambda m: None)
    for oid in aug.object_ids():
        for k in range(3):
            name = f"objects/{oid}/views/{k:02d}.png"
            assert (again / name).read_bytes() == (train_out / name).read_bytes()
    # Resume: a rerun skips finished objects; a half-done object is remade.
    victim = train_out / "objects" / aug.object_ids()[1]
    meta = json.loads((victim / "meta.json").read_text())
    meta["augment"]["settings_sha1"] = "stale"
    (victim / "meta.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["augment", "photo", "--data", str(tiny_data), "--out", str(train_out),
                 "--views-per-object", "3", "--size", "40", "--quiet"]) == 0
    assert "1 augmented now, 5 already done" in capsys.readouterr().err
    # Other settings at the same --out are refused; all-split augmentation is refused.
    assert main(["augment", "photo", "--data", str(tiny_data), "--out", str(train_out),
                 "--views-per-object", "2", "--quiet"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(["augment", "photo", "--data", str(tiny_data), "--out", str(tmp_path / "x"),
                 "--split", "all", "--quiet"]) == 2
    assert "held-out backgrounds" in capsys.readouterr().err


class _MeanColourVLM(VisionLanguageModel):
    """A stand-in VLM for the chain test: 2x2 mean colours, fixed random projection."""

    name, dim = "mean-colour-test", 8

    def _embed_image_batch(self, images):
        from PIL import Image

        from clip2nerf.vlm.preprocess import to_rgb_array

        proj = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
        feats = [np.asarray(Image.fromarray(to_rgb_array(im)).resize((2, 2)),
                            np.float32).reshape(-1) / 255.0 - 0.5 for im in images]
        return np.stack(feats) @ proj

    def _embed_text_batch(self, texts):
        return np.ones((len(texts), 8), np.float32)


@pytest.mark.slow
def test_augmented_folder_embeds_and_trains_clip2nerf(tiny_data, tmp_path):
    """augment photo -> embed-views -> map train --extra-views, through the real code."""
    from clip2nerf.utils.embeddings import EmbeddingTable
    from clip2nerf.vlm.embed_views import embed_views

    vlm = _MeanColourVLM()
    aug = augment_photo(tiny_data, tmp_path / "aug", views_per_object=2, progress=False,
                        log=lambda m: None)
    extra = embed_views(aug, tmp_path / "aug_emb", vlm, progress=False, log=lambda m: None)
    assert extra.vectors.shape == (6, 2, 8) and extra.space == vlm.space
    views = embed_views(tiny_data, tmp_path / "views", vlm, progress=False, log=lambda m: None)
    src = open_dataset(tiny_data)
    splits = [("train" if i in src.object_ids("train") else "val") for i in views.ids]
    nerf = EmbeddingTable(np.random.default_rng(1).normal(size=(len(views), 16)), views.ids,
                          views.labels, "nf2vec:test", {"splits": splits})
    nerf.save(tmp_path / "nerf.safetensors")
    out = tmp_path / "c2n"
    assert main(["map", "train", "--nerf-emb", str(tmp_path / "nerf.safetensors"),
                 "--view-emb", str(tmp_path / "views"), "--extra-views",
                 str(tmp_path / "aug_emb"), "--direction", "clip2nerf", "--out", str(out),
                 "--epochs", "1", "--device", "cpu"]) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert log["n_train_pairs"] == 6 * 4 + 6 * 2


def test_overwrite_replaces_only_an_augmentation(tiny_data, tmp_path):
    """--overwrite never deletes a folder this command did not write (e.g. --out = --data)."""
    before = sorted(p.relative_to(tiny_data) for p in tiny_data.rglob("*"))
    with pytest.raises(UserError, match="refusing to replace"):
        augment_photo(tiny_data, tiny_data, views_per_object=1, overwrite=True, progress=False,
                      log=lambda m: None)
    assert sorted(p.relative_to(tiny_data) for p in tiny_data.rglob("*")) == before


def test_controlnet_prompt_is_plain_replacement():
    from clip2nerf.augment.controlnet import ControlNetSettings, make_prompt

    s = ControlNetSettings(prompt_template="a {cls} {style} {cls.__class__}")
    prompt = make_prompt(s, "chair", np.random.default_rng(0))
    assert prompt == "a chair {style} {cls.__class__}"  # no KeyError, no attribute access
