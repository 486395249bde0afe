"""BLIP-2 captioner backend on a tiny random model, caption files, caption embeddings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from clip2nerf.cli.main import main
from clip2nerf.data.synth import SynthConfig, generate_dataset
from clip2nerf.utils.embeddings import load_embeddings

sys.path.insert(0, str(Path(__file__).parents[1] / "vlm"))

from vlm_helpers import make_tiny_clip, write_clip_vocab  # noqa: E402


def make_tiny_blip2(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised Blip2ForConditionalGeneration (OPT text model) + processor."""
    import torch
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        BlipImageProcessorPil,
        CLIPTokenizer,
    )

    vocab, merges = write_clip_vocab(folder / "_vocab")
    tok = CLIPTokenizer(str(vocab), str(merges), model_max_length=64)
    tok.add_tokens(["<image>"], special_tokens=True)
    config = Blip2Config(
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, image_size=32, patch_size=8),
        qformer_config=dict(vocab_size=100, hidden_size=16, num_hidden_layers=1,
                            num_attention_heads=2, intermediate_size=32, encoder_hidden_size=16),
        text_config=dict(model_type="opt", vocab_size=len(tok), hidden_size=16,
                         num_hidden_layers=1, ffn_dim=32, num_attention_heads=2,
                         max_position_embeddings=64, word_embed_proj_dim=16,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        num_query_tokens=4, image_token_index=tok.convert_tokens_to_ids("<image>"))
    torch.manual_seed(seed)
    Blip2ForConditionalGeneration(config).save_pretrained(folder)
    Blip2Processor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}),
                   tokenizer=tok, num_query_tokens=4).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("caption")
    data = root / "data"
    generate_dataset(data, SynthConfig(classes=("chair", "car"), per_class=3, views=4, res=32,
                                       supersample=1, seed=2), progress=False)
    return {"data": data, "blip": make_tiny_blip2(root / "tiny-blip2"),
            "clip": make_tiny_clip(root / "tiny-clip"), "root": root}


@pytest.mark.slow
def test_caption_cli_blip2_resumes_and_feeds_caption_embeddings(world, tmp_path, capsys):
    data, blip = world["data"], world["blip"]
    args = ["caption", "--data", str(data), "--model", str(blip), "--views", "2",
            "--max-new-tokens", "4", "--batch-size", "3", "--device", "cpu", "--quiet"]
    assert main(args) == 0
    path = data / "captions" / "blip2_tiny-blip2.json"
    stored = json.loads(path.read_text())
    assert stored["captioner"] == "blip2:tiny-blip2" and len(stored["objects"]) == 6
    for entry in stored["objects"].values():
        assert entry["views"] == [0, 2] and len(entry["captions"]) == 2
        assert all(isinstance(c, str) and "<image>" not in c for c in entry["captions"])
    # Greedy decoding is deterministic: a second captioning of the same views agrees.
    other = tmp_path / "again.json"
    assert main([*args, "--out", str(other)]) == 0
    assert json.loads(other.read_text())["objects"] == stored["objects"]
    capsys.readouterr()
    assert main(args) == 0  # resume: nothing left to do
    assert "(0 captioned now)" in capsys.readouterr().err
    assert main([*args, "--max-new-tokens", "5"]) == 2
    assert "other settings" in capsys.readouterr().err
    # Multimodal training input: the captioner's captions, or the dataset's (default).
    clip = world["clip"]
    assert main(["vlm", "embed-captions", "--data", str(data), "--captions", str(path),
                 "--vlm", str(clip), "--device", "cpu", "--out", str(tmp_path / "c.st")]) == 0
    table = load_embeddings(tmp_path / "c.st")
    assert table.vectors.shape[:2] == (6, 2) and table.extra["captioner"] == "blip2:tiny-blip2"
    assert main(["vlm", "embed-captions", "--data", str(data), "--vlm", str(clip),
                 "--device", "cpu", "--out", str(tmp_path / "d.st")]) == 0
    table = load_embeddings(tmp_path / "d.st")
    assert table.vectors.shape[:2] == (6, 1) and table.extra["captioner"] == "dataset"
    assert table.extra["texts"][0].startswith("a ")


def test_caption_refuses_missing_weights(world, capsys):
    assert main(["caption", "--data", str(world["data"]), "--model", "nobody-here/no-blip2",
                 "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--model nobody-here/no-blip2" in err and "never downloads" in err
