"""Build a tiny, randomly initialised CLIP folder offline (real OpenAI BPE vocabulary).

The vocabulary comes from the ``openai-clip`` sdist (test extra), found through its installed
file list so the ``clip`` package itself (which imports torchvision) is never imported.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
from pathlib import Path

import pytest


def bpe_vocab_path() -> Path:
    try:
        files = importlib.metadata.files("openai-clip") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("the test extra is not installed: pip install -e '.[test]' (needs openai-clip)")
    for f in files:
        if f.name == "bpe_simple_vocab_16e6.txt.gz":
            return Path(f.locate())
    pytest.fail("openai-clip is installed but ships no bpe_simple_vocab_16e6.txt.gz")


def _bytes_to_unicode() -> list[str]:
    """OpenAI's byte -> printable character table (GPT-2 / CLIP BPE)."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1)))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return [chr(c) for c in chars]


def write_clip_vocab(folder: Path) -> tuple[Path, Path]:
    """Write vocab.json + merges.txt equivalent to OpenAI CLIP's tokenizer (49408 entries)."""
    lines = gzip.open(bpe_vocab_path()).read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    base = _bytes_to_unicode()
    vocab = base + [b + "</w>" for b in base] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return folder / "vocab.json", folder / "merges.txt"


def make_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """Save a tiny random CLIPModel + tokenizer + PIL image processor to ``folder``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    vocab, merges = write_clip_vocab(folder / "_vocab")
    tokenizer = CLIPTokenizer(str(vocab), str(merges))
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37,
                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                           num_attention_heads=4, image_size=32, patch_size=8),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    processor = CLIPImageProcessorPil(size={"shortest_edge": 32},
                                      crop_size={"height": 32, "width": 32})
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
