"""`clip2nerf vlm embed-views --executor ray` on a real local Ray instance: a shard that fails
once is retried, the shards equal a local run's, and finished shards are not redone."""

import importlib
import shutil

import numpy as np
import pytest

from clip2nerf.cli.main import main
from clip2nerf.utils.embeddings import EmbeddingTable, load_embeddings

ev = importlib.import_module("clip2nerf.vlm.embed_views")  # the package exports a function too


@pytest.mark.slow
@pytest.mark.numerics  # compares Ray workers' embeddings with this process's
def test_embed_views_on_ray(fake_data, tiny_clip_dir, tmp_path, ray_local, monkeypatch):
    base = ["vlm", "embed-views", "--data", str(fake_data), "--vlm", str(tiny_clip_dir),
            "--device", "cpu", "--chunk", "2", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    local = load_embeddings(tmp_path / "local")
    # A run interrupted after its first shard: the Ray run redoes only the others.
    out = tmp_path / "ray"
    ev.partial_dir(out).mkdir()
    first = ev.SHARD_PATTERN.format(0)
    shutil.copy(tmp_path / "local" / first, ev.partial_dir(out) / first)
    n_shards = len(list((tmp_path / "local").glob("*.safetensors")))
    assert n_shards >= 3
    submitted = []
    real_map = ev.map_shards

    def spy(fn, shards, *args, **kwargs):
        submitted.extend(s.index for s in shards)
        return real_map(fn, shards, *args, **kwargs)

    monkeypatch.setattr(ev, "map_shards", spy)
    (ray_local / "shard-00001.fail").touch()
    assert main([*base, "--out", str(out), "--executor", "ray"]) == 0
    assert not (ray_local / "shard-00001.fail").exists()  # failed once, then retried
    assert submitted == list(range(1, n_shards))
    ray = load_embeddings(out)
    assert (ray.ids, ray.labels, ray.space, ray.extra) == (local.ids, local.labels, local.space,
                                                           local.extra)
    # Same machine, same kernels (Ray's workers inherit the environment, instruction-set
    # switches included): a few float32 ulps of unit vectors at most (1e-6 = 16 ulps of 1).
    np.testing.assert_allclose(ray.vectors, local.vectors, rtol=0, atol=1e-6)
    for k in range(n_shards):  # same images per forward pass: the same floats
        a = EmbeddingTable.load(out / ev.SHARD_PATTERN.format(k)).vectors
        b = EmbeddingTable.load(tmp_path / "local" / ev.SHARD_PATTERN.format(k)).vectors
        assert np.array_equal(a, b) or np.allclose(a, b, rtol=0, atol=1e-6)
