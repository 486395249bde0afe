"""embed-views: shapes, ids/labels/view ids, resume after an interruption, CLI."""

import numpy as np
import pytest

from clip2nerf.cli.main import main
from clip2nerf.data.layouts import open_dataset
from clip2nerf.errors import UserError
from clip2nerf.utils.embeddings import load_embeddings
from clip2nerf.vlm.base import VisionLanguageModel
from clip2nerf.vlm.embed_views import embed_views, partial_dir


class MeanColourVLM(VisionLanguageModel):
    """A cheap deterministic stand-in: image -> mean RGB + a constant; counts images seen."""

    name = "test-mean-colour"
    dim = 4

    def __init__(self, die_after: int | None = None):
        self.seen = 0
        self.die_after = die_after

    def _embed_image_batch(self, images):
        from clip2nerf.vlm.preprocess import to_rgb_array

        if self.die_after is not None and self.seen >= self.die_after:
            raise KeyboardInterrupt
        self.seen += len(images)
        return np.stack([np.r_[to_rgb_array(i).reshape(-1, 3).mean(0) / 255, 1.0]
                         for i in images])

    def _embed_text_batch(self, texts):
        return np.ones((len(texts), 4))


def test_shapes_ids_and_view_ids(fake_data, tmp_path):
    vlm = MeanColourVLM()
    table = embed_views(fake_data, tmp_path / "v", vlm, split="train", chunk_objects=4,
                        progress=False, log=lambda m: None)
    ds = open_dataset(fake_data)
    ids = ds.object_ids("train")
    assert table.vectors.shape == (len(ids), 8, 4)
    assert table.ids == ids and table.space == "vlm:test-mean-colour"
    assert table.labels == [i.split("_")[0] for i in ids]
    assert table.extra["view_ids"][0] == [f"{v:02d}" for v in range(8)]
    again = load_embeddings(tmp_path / "v", expect_space=vlm.space)
    np.testing.assert_array_equal(again.vectors, table.vectors)
    # Row (object k, view v) is the embedding of that very view.
    obj = ds.get(ids[2])
    np.testing.assert_allclose(table.vectors[2, 5], vlm.embed_images(obj.load_view(5))[0],
                               atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(table.vectors, axis=-1), 1.0, atol=1e-5)


def test_resume_embeds_only_what_is_missing(fake_data, tmp_path):
    out = tmp_path / "v"
    dying = MeanColourVLM(die_after=2 * 4 * 8)  # finishes 2 shards of 4 objects x 8 views
    with pytest.raises(KeyboardInterrupt):
        embed_views(fake_data, out, dying, chunk_objects=4, progress=False, log=lambda m: None)
    assert not out.exists() and len(list(partial_dir(out).glob("*.safetensors"))) == 2
    fresh = MeanColourVLM()
    table = embed_views(fake_data, out, fresh, chunk_objects=4, progress=False, log=lambda m: None)
    n_obj = len(open_dataset(fake_data).object_ids())
    assert fresh.seen == (n_obj - 8) * 8
    assert table.vectors.shape == (n_obj, 8, 4)
    assert not partial_dir(out).exists()
    full = embed_views(fake_data, tmp_path / "w", MeanColourVLM(), chunk_objects=5,
                       progress=False, log=lambda m: None)
    np.testing.assert_allclose(full.vectors, table.vectors)
    # A finished folder is reused; a different model's embeddings are not overwritten silently.
    again = MeanColourVLM()
    embed_views(fake_data, out, again, chunk_objects=4, progress=False, log=lambda m: None)
    assert again.seen == 0
    other = MeanColourVLM()
    other.name = "another-model"
    with pytest.raises(UserError, match="overwrite"):
        embed_views(fake_data, out, other, progress=False, log=lambda m: None)


def test_cli_with_tiny_clip(fake_data, tiny_clip_dir, tmp_path, capsys):
    out = tmp_path / "views"
    rc = main(["vlm", "embed-views", "--data", str(fake_data), "--out", str(out), "--vlm",
               str(tiny_clip_dir), "--split", "test", "--device", "cpu", "--quiet"])
    assert rc == 0
    table = load_embeddings(out)
    assert table.vectors.shape == (3, 8, 16)
    assert table.space.startswith("vlm:clip-vit32-p8-d16@")
    rc = main(["vlm", "embed", "--vlm", str(tiny_clip_dir), "--device", "cpu", "--text", "a couch",
               "--image", str(fake_data / "objects" / "sofa_000" / "views" / "00.png")])
    assert rc == 0
    assert "text 0: a couch" in capsys.readouterr().out


def test_cli_errors(fake_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CLIP2NERF_HOME", str(tmp_path / "home"))
    rc = main(["vlm", "embed-views", "--data", str(fake_data), "--out", str(tmp_path / "o"),
               "--vlm", "offline"])
    assert rc == 2
    assert "prepare-offline" in capsys.readouterr().err
    rc = main(["vlm", "embed-views", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
               "--vlm", "offline"])
    assert rc == 2


def test_leave_one_out_for_the_knn_offline_model(fake_data, knn_offline, tmp_path):
    """Training objects are embedded without their own views in the knn memory."""
    from clip2nerf.vlm import OfflineVLM

    folder, _ = knn_offline
    vlm = OfflineVLM.from_pretrained(folder)
    ds = open_dataset(fake_data)
    loo = embed_views(fake_data, tmp_path / "loo", vlm, progress=False, log=lambda m: None)
    raw = embed_views(fake_data, tmp_path / "raw", vlm, progress=False, log=lambda m: None,
                      leave_one_out=False)
    assert loo.extra["leave_one_out"] is True and raw.extra["leave_one_out"] is False
    train, where = set(ds.object_ids("train")), loo.index_of()
    for oid in ds.object_ids():
        caption = vlm.embed_texts(ds.get(oid).caption)[0]
        r, l_ = raw.vectors[where[oid]], loo.vectors[where[oid]]
        if oid in train:
            # Own views in memory pull towards the own caption; without them, less so.
            assert (r @ caption).mean() > (l_ @ caption).mean() + 0.01
            assert np.abs(r - l_).max() > 1e-3
        else:
            # Unseen objects: unchanged up to float32 rounding. The two runs batch the
            # thumbnail similarities differently (sums over 768 values of order 1, relative
            # error ~768 * 6e-8 ~ 5e-5, seen up to 4.8e-6 on AVX-512), far below the >1e-3
            # change that leaving a training object's views out makes.
            np.testing.assert_allclose(l_, r, rtol=0, atol=1e-4)
