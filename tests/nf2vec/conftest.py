"""Fixtures of the nf2vec tests: tiny NeRF files and a tiny preset file."""

from __future__ import annotations

import json

import pytest
from nf2vec_helpers import TINY_MODEL, TINY_TRAIN, make_field, occupancy_of

from clip2nerf.nerf.io import save_nerf


@pytest.fixture
def nerf_dir(tmp_path):
    """8 NeRF files of the default architecture: 6 train, 2 val, 2 classes."""
    folder = tmp_path / "nerfs"
    folder.mkdir()
    for i in range(8):
        field = make_field(i)
        meta = {"object_id": f"obj{i:02d}", "class_name": ["chair", "table"][i % 2],
                "split": "val" if i >= 6 else "train"}
        save_nerf(folder / f"obj{i:02d}.safetensors", field, field.config, occupancy_of(field),
                  meta)
    return folder


@pytest.fixture
def tiny_preset(tmp_path):
    """A preset JSON file for the CLI with the tiny sizes."""
    path = tmp_path / "tiny.json"
    model = TINY_MODEL.to_dict()
    model = {k: model[k] for k in ("encoder", "decoder")}
    path.write_text(json.dumps({"model": model, "train": TINY_TRAIN.to_dict()}))
    return path


@pytest.fixture(autouse=True)
def one_cpu_thread():
    """Tiny models gain nothing from threads, and on a busy machine idle threads spin."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
