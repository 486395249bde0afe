"""Fixtures of the application tests: the tiny world, built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_world import FakeVLM, make_dataset, make_nerfs, make_nf2vec  # noqa: E402


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """dict: data, nerfs, nf2vec (folders), model, vlm, nerf_table, views, mappers dir."""
    import torch

    from clip2nerf.mapping import MapperConfig, TrainConfig, train_mapper
    from clip2nerf.nf2vec import Nf2vec, embed_nerfs
    from clip2nerf.vlm import embed_views

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("world")
    data = make_dataset(root / "data")
    nerfs = make_nerfs(data, root / "nerfs")
    model = Nf2vec.from_pretrained(make_nf2vec(root / "nf2vec"))
    vlm = FakeVLM()
    table = embed_nerfs(model, nerfs)
    table.save(root / "nerf.safetensors")
    views = embed_views(data, root / "views", vlm, progress=False, log=lambda m: None)
    ids = table.ids
    mappers = {}
    for direction in ("clip2nerf", "nerf2clip"):
        cfg = MapperConfig(direction=direction, vlm_space=vlm.space, vlm_dim=vlm.dim,
                           nf2vec_space=model.space, nf2vec_dim=table.dim,
                           train=TrainConfig.paper(direction, epochs=3, lr=1e-3))
        out = root / "mappers" / direction
        train_mapper(cfg, table, views, ids, None, None, out, progress=False)
        mappers[direction] = out
    return {"root": root, "data": data, "nerfs": nerfs, "nf2vec": root / "nf2vec",
            "model": model, "vlm": vlm, "nerf_table": table, "views": views,
            "mappers": mappers}
