"""Gallery builds with the row encoding in shard tasks: the same index, byte for byte, as the
in-process build, here and on a real local Ray instance (a shard failing once is retried);
a rerun keeps finished parts."""

from pathlib import Path

import numpy as np
import pytest
from shard_faults import interrupted_at_shard, record_submitted

from clip2nerf.index import Gallery, GalleryConfig
from clip2nerf.index import sharded as sharded_mod
from clip2nerf.utils.embeddings import EmbeddingTable
from clip2nerf.utils.executor import ExecutorConfig


def _shards(folder: Path, per_view: bool = False) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for s in range(4):
        n = 120
        shape = (n, 3, 16) if per_view else (n, 16)
        ids = [f"o{s}_{i}" for i in range(n)]
        EmbeddingTable(rng.normal(size=shape).astype(np.float32), ids,
                       [f"c{i % 5}" for i in range(n)], "nf2vec:t",
                       {"sources": [f"{i}.safetensors" for i in ids]}).save(
            folder / f"part-{s}.safetensors")
    return folder


def _same(a: Gallery, b: Gallery) -> None:
    import faiss

    assert (a.ids, a.labels, a.space, a.config, a.extra) == (b.ids, b.labels, b.space,
                                                             b.config, b.extra)
    np.testing.assert_array_equal(faiss.serialize_index(a.index), faiss.serialize_index(b.index))


@pytest.mark.parametrize("kind,per_view", [("flat", False), ("ivf-sq8", False),
                                           ("ivf-sq6", True)])
def test_sharded_build_equals_the_streamed_one(tmp_path, kind, per_view):
    emb = _shards(tmp_path / "emb", per_view)
    keep = [f"o{s}_{i}" for s in (0, 2, 3) for i in range(0, 120, 2)]
    cfg = GalleryConfig(kind, nlist=4 if kind != "flat" else None, nprobe=4)
    views = "all" if per_view else "mean"
    plain = Gallery.from_embeddings(emb, views, cfg, only_ids=keep)
    parts = tmp_path / "g.parts"
    got = Gallery.from_embeddings(emb, views, cfg, only_ids=keep,
                                  executor=ExecutorConfig("local", shard_size=3), parts=parts)
    _same(plain, got)
    assert not parts.exists()  # removed once appended


def test_a_rerun_keeps_finished_parts(tmp_path, monkeypatch):
    emb = _shards(tmp_path / "emb")
    cfg = GalleryConfig("ivf-sq8", nlist=4, nprobe=4)
    parts = tmp_path / "g.parts"
    ex = ExecutorConfig("local", shard_size=2)
    with interrupted_at_shard(monkeypatch, sharded_mod, "encode_shard", 1), \
            pytest.raises(KeyboardInterrupt):
        Gallery.from_embeddings(emb, config=cfg, executor=ex, parts=parts)
    assert sorted(p.name for p in parts.glob("shard-*")) == ["shard-00000.safetensors"]
    submitted = record_submitted(monkeypatch, sharded_mod)
    got = Gallery.from_embeddings(emb, config=cfg, executor=ex, parts=parts)
    assert submitted == ["shard-00001"]
    _same(Gallery.from_embeddings(emb, config=cfg), got)


@pytest.mark.slow
@pytest.mark.numerics  # compares an index encoded by Ray workers with this process's
def test_index_cli_on_ray_retries_and_matches_local(tmp_path, ray_local):
    from clip2nerf.cli.main import main

    emb = _shards(tmp_path / "emb")
    base = ["index", "--embeddings", str(emb), "--kind", "ivf-sq8", "--nlist", "4"]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    (ray_local / "shard-00001.fail").touch()
    assert main([*base, "--out", str(tmp_path / "ray"), "--executor", "ray",
                 "--max-retries", "2"]) == 0
    assert not (ray_local / "shard-00001.fail").exists()  # failed once, then retried
    # The same rows through the same code on the same machine (Ray's workers inherit the
    # environment): the same bytes, as in-process shards give (test above).
    for name in ("index.faiss", "gallery.json"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes()
    assert not (tmp_path / "ray.parts").exists()


def test_a_foreign_parts_folder_is_refused_not_deleted(tmp_path):
    from clip2nerf.errors import UserError

    emb = _shards(tmp_path / "emb")
    parts = tmp_path / "g.parts"
    parts.mkdir()
    (parts / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="plan.json"):
        Gallery.from_embeddings(emb, config=GalleryConfig("flat"),
                                executor=ExecutorConfig("local", shard_size=3), parts=parts)
    assert (parts / "notes.txt").read_text() == "mine"
