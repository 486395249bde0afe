"""The transformers CLIP backend, on a tiny random CLIP saved to and loaded from a folder."""

import json
import shutil
import time

import numpy as np
import pytest
from contract import check_contract

from clip2nerf.errors import UserError
from clip2nerf.vlm import load_vlm
from clip2nerf.vlm.clip_backend import CLIPVisionLanguageModel, check_tokenizer


@pytest.fixture(scope="module")
def tiny_clip(tiny_clip_dir):
    return load_vlm(str(tiny_clip_dir), device="cpu")


def test_loads_through_factory(tiny_clip):
    assert isinstance(tiny_clip, CLIPVisionLanguageModel)
    assert tiny_clip.dim == 16
    assert tiny_clip.name.startswith("clip-vit32-p8-d16@")


def test_contract(tiny_clip):
    check_contract(tiny_clip)


def test_real_openai_tokenisation(tiny_clip):
    ids = tiny_clip.tokenizer("a photo of a cat")["input_ids"]
    assert ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_matches_transformers_directly(tiny_clip, tiny_clip_dir):
    """Our preprocessing + features equal a hand-written transformers call."""
    import torch
    from transformers import CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    model = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    tok = CLIPTokenizer.from_pretrained(tiny_clip_dir)
    proc = CLIPImageProcessorPil.from_pretrained(tiny_clip_dir)
    rgb = np.random.default_rng(3).integers(0, 256, (2, 50, 40, 3), dtype=np.uint8)
    with torch.no_grad():
        px = proc(images=list(rgb), return_tensors="pt")["pixel_values"]
        want_img = model.get_image_features(pixel_values=px).pooler_output.numpy()
        t = tok(["a dog", "a big red sofa"], padding=True, return_tensors="pt")
        want_txt = model.get_text_features(**t).pooler_output.numpy()
    want_img /= np.linalg.norm(want_img, axis=1, keepdims=True)
    want_txt /= np.linalg.norm(want_txt, axis=1, keepdims=True)
    np.testing.assert_allclose(tiny_clip.embed_images(rgb), want_img, atol=1e-5)
    np.testing.assert_allclose(tiny_clip.embed_texts(["a dog", "a big red sofa"]), want_txt,
                               atol=1e-5)


def test_name_is_stable_and_tracks_weights(tiny_clip, tiny_clip_dir, tmp_path):
    again = load_vlm(str(tiny_clip_dir), device="cpu")
    assert again.name == tiny_clip.name
    other = tmp_path / "other"
    shutil.copytree(tiny_clip_dir, other)
    from transformers import CLIPModel

    m = CLIPModel.from_pretrained(other)
    with __import__("torch").no_grad():
        m.visual_projection.weight.mul_(2.0)
    m.save_pretrained(other)
    assert load_vlm(str(other), device="cpu").name != tiny_clip.name


def test_unreachable_hub_id_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.time()
    with pytest.raises(UserError, match="local folder"):
        load_vlm("openai/clip-vit-base-patch32", device="cpu")
    assert time.time() - t0 < 30


def test_unreachable_hub_fails_fast_online(monkeypatch, tmp_path):
    """Without HF_HUB_OFFLINE, a dead endpoint is detected by the probe, not by minutes of retries."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # empty cache
    t0 = time.time()
    with pytest.raises(UserError, match="unreachable"):
        CLIPVisionLanguageModel.__init__(object.__new__(CLIPVisionLanguageModel),
                                         __import__("clip2nerf.vlm", fromlist=["x"])
                                         .CLIPBackendConfig(model="someone/some-clip"),
                                         device="cpu")
    assert time.time() - t0 < 30


def test_broken_tokenizer_is_refused(tiny_clip_dir, tmp_path):
    """A folder whose tokenizer has a vocabulary of 2 (what a failed download gives) is refused."""
    from transformers import CLIPTokenizer

    broken = tmp_path / "broken"
    shutil.copytree(tiny_clip_dir, broken)
    (tmp_path / "v.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1}))
    (tmp_path / "m.txt").write_text("#version: 0.2\n")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (broken / f).unlink()
    CLIPTokenizer(str(tmp_path / "v.json"), str(tmp_path / "m.txt")).save_pretrained(broken)
    t0 = time.time()
    with pytest.raises(UserError, match="vocabulary of 2"):
        load_vlm(str(broken), device="cpu")
    assert time.time() - t0 < 30


def test_check_tokenizer_accepts_real_vocab(tiny_clip):
    check_tokenizer(tiny_clip.tokenizer, "x")  # no error


def test_bad_folders(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        load_vlm(str(tmp_path), device="cpu")
    with pytest.raises(UserError, match="no such folder"):
        load_vlm(str(tmp_path / "nope" / "deeper"), device="cpu")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match="cannot load"):
        load_vlm(str(tmp_path), device="cpu")
