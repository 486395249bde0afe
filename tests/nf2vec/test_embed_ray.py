"""`clip2nerf nf2vec embed --executor ray` on a real local Ray instance: a shard that fails
once is retried, the table equals a local run's, and a rerun skips finished shards."""

import numpy as np
import pytest
from nf2vec_helpers import TINY_MODEL
from shard_faults import interrupted_at_shard, record_submitted

from clip2nerf.cli.main import main
from clip2nerf.nf2vec import embed as embed_mod
from clip2nerf.nf2vec.model import Nf2vec
from clip2nerf.utils.embeddings import EmbeddingTable


@pytest.mark.slow
@pytest.mark.numerics  # compares Ray workers' embeddings with this process's
def test_embed_on_ray_retries_matches_local_and_resumes(nerf_dir, tmp_path, ray_local,
                                                         monkeypatch):
    Nf2vec(TINY_MODEL).save_pretrained(tmp_path / "model")
    base = ["nf2vec", "embed", "--model", str(tmp_path / "model"), "--nerfs", str(nerf_dir),
            "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "local.safetensors")]) == 0
    (ray_local / "shard-00002.fail").touch()
    out = tmp_path / "ray.safetensors"
    ray_args = [*base, "--out", str(out), "--executor", "ray", "--shard-size", "3"]
    assert main(ray_args) == 0
    assert not (ray_local / "shard-00002.fail").exists()  # failed once, then retried
    local, ray = EmbeddingTable.load(tmp_path / "local.safetensors"), EmbeddingTable.load(out)
    assert (ray.ids, ray.labels, ray.space, ray.extra) == (local.ids, local.labels,
                                                           local.space, local.extra)
    # Same machine, same kernels (Ray's workers inherit the environment, instruction-set
    # switches included); shards batch other NeRFs together, which can change a kernel's
    # blocking: a few float32 ulps of unit vectors (1e-6 = 16 ulps of 1).
    np.testing.assert_allclose(ray.vectors, local.vectors, rtol=0, atol=1e-6)
    assert not embed_mod.parts_dir(out).exists()  # joined, then cleaned up
    # An interrupted run: two of three shards finished; the rerun embeds only the third.
    parts = embed_mod.parts_dir(out)
    ex = embed_mod.ExecutorConfig("local", shard_size=3)
    with interrupted_at_shard(monkeypatch, embed_mod, "embed_shard", 2), \
            pytest.raises(KeyboardInterrupt):
        embed_mod.embed_nerfs_sharded(tmp_path / "model", nerf_dir, out, ex, device="cpu")
    assert sorted(p.name for p in parts.glob("shard-*")) == ["shard-00000.safetensors",
                                                             "shard-00001.safetensors"]
    submitted = record_submitted(monkeypatch, embed_mod)
    assert main(ray_args) == 0
    assert submitted == ["shard-00002"]
    again = EmbeddingTable.load(out)
    np.testing.assert_allclose(again.vectors, local.vectors, rtol=0, atol=1e-6)
    assert again.ids == local.ids and not parts.exists()


def test_local_embed_of_a_folder_resumes_after_an_interruption(nerf_dir, tmp_path,
                                                               monkeypatch):
    """`nf2vec embed` of a folder keeps finished shards in OUT.parts/ on this machine too:
    a rerun after a kill embeds only the missing ones, and the table is embed_nerfs'."""
    Nf2vec(TINY_MODEL).save_pretrained(tmp_path / "model")
    out = tmp_path / "e.safetensors"
    args = ["nf2vec", "embed", "--model", str(tmp_path / "model"), "--nerfs", str(nerf_dir),
            "--device", "cpu", "--out", str(out), "--shard-size", "3", "--batch-size", "3"]
    with interrupted_at_shard(monkeypatch, embed_mod, "embed_shard", 2), \
            pytest.raises(KeyboardInterrupt):
        embed_mod.embed_nerfs_sharded(tmp_path / "model", nerf_dir, out,
                                      embed_mod.ExecutorConfig("local", shard_size=3),
                                      batch_size=3, device="cpu")
    parts = embed_mod.parts_dir(out)
    assert len(list(parts.glob("shard-*"))) == 2 and not out.exists()
    submitted = record_submitted(monkeypatch, embed_mod)
    assert main(args) == 0
    assert submitted == ["shard-00002"] and not parts.exists()
    table = EmbeddingTable.load(out)
    whole = embed_mod.embed_nerfs(Nf2vec.from_pretrained(tmp_path / "model"), nerf_dir,
                                  batch_size=3)
    assert (table.ids, table.labels, table.extra) == (whole.ids, whole.labels, whole.extra)
    np.testing.assert_array_equal(table.vectors, whole.vectors)  # same batches of 3
