"""Fixtures: one small NeRF fitted here, and reference-format files written from it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nerf"))


@pytest.fixture(scope="session")
def fitted_nerf(tmp_path_factory) -> Path:
    """A NeRF of the toy sphere+box scene fitted in the nf2vec box, saved by ``save_nerf``."""
    import torch
    from nerf_toy_scene import write_dataset

    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.nerf import FitConfig, NerfConfig, fit_object, save_nerf

    torch.manual_seed(0)
    data = write_dataset(tmp_path_factory.mktemp("toy") / "data", n_objects=1, n_views=12,
                         res=24)
    ds = open_dataset(data)
    record = ds.get(ds.object_ids()[0])
    cfg = NerfConfig()  # the nf2vec box [-0.7, 0.7]^3, as in the reference files
    res = fit_object(record, cfg, FitConfig(steps=150, rays_per_step=256, grid_resolution=32,
                                            holdout_views=0, n_samples=64))
    path = tmp_path_factory.mktemp("nerfs") / f"{record.object_id}.safetensors"
    save_nerf(path, res.field, cfg, res.occupancy,
              {"object_id": record.object_id, "class_name": record.class_name,
               "split": "train"})
    return path
