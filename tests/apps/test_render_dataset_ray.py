"""`clip2nerf render-views --executor ray` on a real local Ray instance: a shard that fails once
is retried, the PNGs equal a local run's byte for byte, and rendered objects are skipped."""

from __future__ import annotations

import shutil

import pytest

from clip2nerf.cli.main import main
from clip2nerf.data.layouts import open_dataset
from clip2nerf.nerf import render_dataset as rd


@pytest.mark.slow
@pytest.mark.numerics  # compares Ray workers' renders with this process's
def test_render_views_on_ray(world, tmp_path, ray_local, monkeypatch):
    base = ["render-views", "--nerfs", str(world["nerfs"]), "--data", str(world["data"]),
            "--split", "test", "--samples", "8", "--res", "12", "--quiet", "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    ids = open_dataset(world["data"]).object_ids("test")
    out = tmp_path / "ray"
    (out / "objects").mkdir(parents=True)
    shutil.copytree(tmp_path / "local" / "objects" / ids[0], out / "objects" / ids[0])
    submitted = []
    real_map = rd.map_shards

    def spy(fn, shards, *args, **kwargs):
        submitted.extend(i for s in shards for i in s.items)
        return real_map(fn, shards, *args, **kwargs)

    monkeypatch.setattr(rd, "map_shards", spy)
    (ray_local / "shard-00001.fail").touch()
    assert main([*base, "--out", str(out), "--executor", "ray", "--shard-size", "2"]) == 0
    assert not (ray_local / "shard-00001.fail").exists()  # failed once, then retried
    assert submitted == ids[1:]  # the rendered object was skipped
    local_files = sorted(p.relative_to(tmp_path / "local")
                         for p in (tmp_path / "local" / "objects").rglob("*") if p.is_file())
    ray_files = sorted(p.relative_to(out) for p in (out / "objects").rglob("*") if p.is_file())
    assert ray_files == local_files
    # Same machine, same kernels (Ray's workers inherit the environment, instruction-set
    # switches included), one object per render call: the same bytes.
    for rel in local_files:  # PNGs, transforms.json, meta.json (the same NeRF paths)
        assert (out / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel
    assert open_dataset(out).object_ids() == ids
