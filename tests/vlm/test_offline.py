"""The offline LiT-style model: training lowers the loss, it aligns held-out views with text,
it round-trips through its folder, training resumes, and misuse gives clear errors."""

import json

import numpy as np
import pytest
from contract import check_contract
from vlm_helpers import FAKE_CLASSES

from clip2nerf.data.layouts import open_dataset
from clip2nerf.errors import UserError
from clip2nerf.vlm import OfflineVLM, load_vlm
from clip2nerf.vlm.offline import OfflineVLMConfig
from clip2nerf.vlm.train_offline import OfflineTrainConfig, prepare_offline, zero_shot_accuracy

SMALL = OfflineVLMConfig(image_tower="cnn", image_size=32, channels=(8, 16, 32))


def test_training_lowers_the_loss(trained_offline):
    _, model = trained_offline
    hist = model.training["history"]
    assert len(hist) == 12
    assert hist[-1]["loss"] < 0.5 * hist[0]["loss"]
    assert hist[-1]["caption_acc"] > hist[0]["caption_acc"]


@pytest.mark.parametrize("which", ["knn_offline", "trained_offline"])
def test_contract(which, request):
    folder, _ = request.getfixturevalue(which)
    check_contract(OfflineVLM.from_pretrained(folder))


@pytest.mark.parametrize("which", ["knn_offline", "trained_offline"])
def test_folder_round_trip(which, request):
    folder, model = request.getfixturevalue(which)
    cfg = json.loads((folder / "config.json").read_text())
    tower = cfg["model"]["image_tower"]
    assert cfg["name"] == model.name and model.name.startswith(f"offline-{tower}-minilm-v1@")
    assert cfg["training"]["dataset"]["split"] == "train"
    assert cfg["training"]["dataset"]["n_objects"] == 9
    loaded = load_vlm(str(folder), device="cpu")
    assert isinstance(loaded, OfflineVLM) and loaded.name == model.name
    imgs = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 4), dtype=np.uint8)
    np.testing.assert_allclose(loaded.embed_images(imgs), model.embed_images(imgs), atol=1e-6)
    np.testing.assert_allclose(loaded.embed_texts(["a couch"]), model.embed_texts(["a couch"]),
                               atol=1e-6)


def _test_views(data):
    ds = open_dataset(data)
    objs = list(ds.iter_objects("test"))
    views = np.concatenate([o.load_views() for o in objs])
    labels = [o.class_name for o in objs for _ in range(o.n_views)]
    return views, labels


@pytest.mark.parametrize("which", ["knn_offline", "trained_offline"])
def test_zero_shot_on_held_out_objects(which, request, fake_data):
    """Test-split objects (never seen in training) are labelled by the paper's prompts."""
    folder, _ = request.getfixturevalue(which)
    vlm = OfflineVLM.from_pretrained(folder)
    views, labels = _test_views(fake_data)
    prompts = vlm.embed_texts([f"a 3d model of a {c}" for c in FAKE_CLASSES])
    acc = zero_shot_accuracy(vlm.embed_images(views), labels, prompts, list(FAKE_CLASSES))
    assert acc >= 0.8, acc


@pytest.mark.parametrize("which", ["knn_offline", "trained_offline"])
def test_paraphrases_find_their_class(which, request, fake_data):
    """Words never in any caption reach the right class through the pre-trained text tower."""
    folder, _ = request.getfixturevalue(which)
    vlm = OfflineVLM.from_pretrained(folder)
    views, labels = _test_views(fake_data)
    emb = vlm.embed_images(views)
    means = np.stack([emb[[lab == c for lab in labels]].mean(0) for c in FAKE_CLASSES])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    queries = {"a couch": "sofa", "a settee": "sofa", "a jet plane": "airplane",
               "an aircraft": "airplane", "a desk light": "lamp", "a reading lamp": "lamp"}
    hits = [FAKE_CLASSES[int(np.argmax(means @ q))] == want
            for q, want in zip(vlm.embed_texts(list(queries)), queries.values(), strict=True)]
    assert sum(hits) >= 5, dict(zip(queries, hits, strict=True))


def test_resume_continues_and_matches_an_uninterrupted_run(fake_data, tmp_path, monkeypatch):
    import clip2nerf.vlm.train_offline as tr

    tcfg = OfflineTrainConfig(epochs=3, batch_size=32, views_per_epoch=4, val_split=None)
    full = prepare_offline(fake_data, tmp_path / "full", SMALL, tcfg, device="cpu",
                           progress=False, log=lambda m: None)

    real_augment, calls = tr.augment, {"n": 0}

    def dying_augment(*a, **k):
        calls["n"] += 1
        if calls["n"] > 3:  # 2 steps per epoch: dies in epoch 2
            raise KeyboardInterrupt
        return real_augment(*a, **k)

    monkeypatch.setattr(tr, "augment", dying_augment)
    with pytest.raises(KeyboardInterrupt):
        prepare_offline(fake_data, tmp_path / "cut", SMALL, tcfg, device="cpu", progress=False,
                        log=lambda m: None)
    assert not (tmp_path / "cut").exists()  # nothing half-written at --out
    monkeypatch.setattr(tr, "augment", real_augment)
    logs: list[str] = []
    resumed = prepare_offline(fake_data, tmp_path / "cut", SMALL, tcfg, device="cpu",
                              progress=False, log=logs.append)
    assert any("resuming from epoch 1/3" in m for m in logs), logs
    assert resumed.name == full.name
    imgs = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(resumed.embed_images(imgs), full.embed_images(imgs), atol=1e-5)
    # The finished folder is reused, another model there is refused without --overwrite.
    logs.clear()
    prepare_offline(fake_data, tmp_path / "cut", SMALL, tcfg, device="cpu", progress=False,
                    log=logs.append)
    assert any("nothing to do" in m for m in logs)
    with pytest.raises(UserError, match="overwrite"):
        prepare_offline(fake_data, tmp_path / "cut", SMALL,
                        OfflineTrainConfig(epochs=1, batch_size=32, val_split=None),
                        device="cpu", progress=False, log=lambda m: None)


def test_refuses_test_split(fake_data, tmp_path):
    with pytest.raises(UserError, match="test"):
        prepare_offline(fake_data, tmp_path / "m", SMALL, OfflineTrainConfig(split="test"),
                        device="cpu", progress=False)


def test_offline_not_prepared_says_how(monkeypatch, tmp_path):
    monkeypatch.setenv("CLIP2NERF_HOME", str(tmp_path))
    with pytest.raises(UserError, match="clip2nerf vlm prepare-offline"):
        load_vlm("offline")


def test_default_location(monkeypatch, tmp_path, knn_offline):
    import shutil

    folder, model = knn_offline
    monkeypatch.setenv("CLIP2NERF_HOME", str(tmp_path))
    shutil.copytree(folder, tmp_path / "vlm" / "offline")
    assert load_vlm("offline").name == model.name


def test_corrupt_weights_are_refused(trained_offline, tmp_path):
    import shutil

    folder, _ = trained_offline
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / "image_encoder.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt"):
        OfflineVLM.from_pretrained(bad)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model"]["channels"] = [4, 4, 4]
    shutil.copy(folder / "image_encoder.safetensors", bad / "image_encoder.safetensors")
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="do not match"):
        OfflineVLM.from_pretrained(bad)


def test_knn_memory_holds_train_views_only(knn_offline, fake_data):
    """The knn tower's memory is every train-split view, each with its object's caption."""
    folder, model = knn_offline
    ds = open_dataset(fake_data)
    n_train = sum(o.n_views for o in ds.iter_objects("train"))
    assert model.config.bank_size == n_train
    assert model.encoder.bank_text.shape == (n_train, 384)
    assert model.training["dataset"]["split"] == "train"
    # A training view maps (almost) onto its own caption's embedding.
    obj = next(ds.iter_objects("train"))
    e = model.embed_images(obj.load_view(0))
    assert float(e[0] @ model.embed_texts(obj.caption)[0]) > 0.9


def test_cli_prepare_offline_cnn(fake_data, tmp_path):
    from clip2nerf.cli.main import main

    out = tmp_path / "cnn"
    assert main(["vlm", "prepare-offline", "--data", str(fake_data), "--out", str(out),
                 "--image-tower", "cnn", "--epochs", "1", "--image-size", "32", "--device", "cpu",
                 "--quiet"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["image_tower"] == "cnn" and cfg["training"]["train"]["epochs"] == 1
    assert len(cfg["training"]["history"]) == 1
    assert main(["vlm", "prepare-offline", "--data", str(fake_data), "--out", str(out),
                 "--split", "test", "--quiet"]) == 2


def test_diverging_cnn_tower_is_refused_and_not_saved(fake_data, tmp_path):
    """A learning rate that blows the CNN up stops training with a UserError naming --lr; no
    model (which would report a perfect zero-shot accuracy from NaN scores) is written."""
    from clip2nerf.utils.training import NonFiniteTrainingError
    from clip2nerf.vlm.offline import OfflineVLMConfig
    from clip2nerf.vlm.train_offline import OfflineTrainConfig, prepare_offline

    out = tmp_path / "cnn"
    mcfg = OfflineVLMConfig(image_tower="cnn", image_size=32, channels=(8, 16, 32))
    tcfg = OfflineTrainConfig(epochs=2, batch_size=32, lr=1e30, views_per_epoch=None)
    with pytest.raises(NonFiniteTrainingError, match="--lr 1e\\+30"):
        prepare_offline(fake_data, out, mcfg, tcfg, device="cpu", progress=False,
                        log=lambda m: None)
    assert not (out / "config.json").exists()
