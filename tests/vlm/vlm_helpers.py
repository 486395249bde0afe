"""Build a tiny, randomly initialised CLIP folder offline (real OpenAI BPE vocabulary).

The vocabulary comes from the ``openai-clip`` sdist (test extra), found through its installed
file list so the ``clip`` package itself (which imports torchvision) is never imported.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
from pathlib import Path

import numpy as np
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


# --- a fake dataset in the clip2nerf format ---------------------------------------------------

FAKE_CLASSES = ("sofa", "airplane", "lamp")
FAKE_COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 170, 60),
                "yellow": (235, 210, 30)}


def _draw(cls: str, rgb: tuple[int, int, int], size: int, rng) -> np.ndarray:
    """(size, size, 4) uint8 RGBA silhouette of a class, jittered in position and scale."""

    img = np.zeros((size, size, 4), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size] / size
    cx, cy = 0.5 + rng.uniform(-0.08, 0.08), 0.5 + rng.uniform(-0.08, 0.08)
    s = rng.uniform(0.85, 1.15)
    x, y = (xx - cx) / s, (yy - cy) / s
    if cls == "sofa":  # wide low block with a back
        m = ((abs(x) < 0.35) & (y > 0.0) & (y < 0.15)) | ((abs(x) < 0.35) & (y > -0.15) & (y < 0.0)
                                                         & (abs(x) > 0.25))
    elif cls == "airplane":  # a cross: fuselage + wings
        m = ((abs(y) < 0.05) & (abs(x) < 0.4)) | ((abs(x + 0.05) < 0.07) & (abs(y) < 0.35))
    else:  # lamp: thin stem, round shade
        m = ((abs(x) < 0.03) & (y > -0.1) & (y < 0.35)) | ((x ** 2 + (y + 0.2) ** 2) < 0.03)
    img[m, :3] = rgb
    img[m, 3] = 255
    return img


def make_fake_dataset(root: Path, per_class: int = 4, views: int = 6, size: int = 32,
                      seed: int = 0) -> Path:
    """Write a small dataset (3 classes of 2-D silhouettes) with captions and train/val/test splits.

    Per class the last object goes to test and the one before it to val (per_class >= 3).
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    colours = list(FAKE_COLOURS)
    for ci, cls in enumerate(FAKE_CLASSES):
        for k in range(per_class):
            oid = f"{cls}_{k:03d}"
            colour = colours[(k + ci) % len(colours)]
            folder = root / "objects" / oid
            (folder / "views").mkdir(parents=True)
            frames = []
            for v in range(views):
                Image.fromarray(_draw(cls, FAKE_COLOURS[colour], size, rng)).save(
                    folder / "views" / f"{v:02d}.png")
                pose = np.eye(4)
                pose[2, 3] = 2.0 + v
                frames.append({"file_path": f"views/{v:02d}.png", "transform_matrix": pose.tolist()})
            (folder / "transforms.json").write_text(json.dumps(
                {"camera_angle_x": 0.8, "w": size, "h": size, "frames": frames}))
            (folder / "meta.json").write_text(json.dumps(
                {"object_id": oid, "class": cls, "caption": f"a {colour} {cls}"}))
            split = "test" if k == per_class - 1 else "val" if k == per_class - 2 else "train"
            splits[split].append(oid)
    (root / "splits").mkdir(parents=True)
    for name, ids in splits.items():
        (root / "splits" / f"{name}.txt").write_text("".join(i + "\n" for i in ids))
    (root / "dataset.json").write_text(json.dumps(
        {"format": "clip2nerf-dataset", "version": 1, "name": "fake", "classes": list(FAKE_CLASSES)}))
    return root
