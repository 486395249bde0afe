"""Catalogue updates from exact rows, sharded: each source read once, repeated updates of a
compressed gallery do not degrade its vectors, and `catalogue add --executor ray` on a real
local Ray instance (a shard failing once is retried; same version as a local run; a rerun
skips finished shards; a refused file fails at once)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from serve_world import nerf_with_nan
from shard_faults import interrupted_at_shard, record_submitted

from clip2nerf.catalogue import Catalogue, add_nerfs, gallery_vectors, remove_ids
from clip2nerf.catalogue import rows as rows_mod
from clip2nerf.errors import UserError
from clip2nerf.index import GalleryConfig
from clip2nerf.utils.embeddings import EmbeddingTable
from clip2nerf.utils.executor import ExecutorConfig


def _exact_rows(w: Path) -> tuple[list[str], np.ndarray]:
    """The live version's ids and their exact rows (the last row table holding each id)."""
    cat = Catalogue(w)
    v = cat.load_version()
    rows: dict[str, np.ndarray] = {}
    for rel in v.gallery.extra["rows"]:
        t = EmbeddingTable.load(cat.root / rel)
        rows.update(zip(t.ids, t.vectors, strict=True))
    return list(v.gallery.ids), np.stack([rows[i] for i in v.gallery.ids])


def test_each_source_is_read_once_and_copied(fresh, tmp_path, monkeypatch):
    w = fresh["workdir"]
    src = tmp_path / "src"
    src.mkdir()
    files = [Path(shutil.copy(f, src / f.name)) for f in fresh["spare"][:2]]
    real = Path.read_bytes

    def read_then_delete(self):
        data = real(self)
        if self.parent == src:
            self.unlink()  # any second read of a source now fails
        return data

    monkeypatch.setattr(Path, "read_bytes", read_then_delete)
    rep = add_nerfs(w, files, nf2vec=fresh["model"], thumbnails=False)
    assert not any(f.exists() for f in files) and len(rep.added) == 2
    v = Catalogue(w).load_version()
    for oid in rep.added:
        copy = w / v.entries[oid]["source"]
        assert copy.is_file() and copy.parent.name == "nerfs"
    ids, exact = _exact_rows(w)
    want = fresh["nerf_table"].subset(ids).vectors
    np.testing.assert_allclose(exact, want, rtol=0, atol=1e-5)
    assert not list((w / "catalogue" / "staging").iterdir())  # committed: staging removed


def test_repeated_updates_of_an_sq8_gallery_keep_exact_rows(fresh):
    w = fresh["workdir"]
    cat = Catalogue(w)
    v = cat.load_version()
    config = GalleryConfig("ivf-sq8", nlist=2, nprobe=2)
    rows = rows_mod.version_rows(cat, v)  # the first update's rows: from its flat index
    cat.publish(rows_mod.gallery_from_rows(cat, rows, v.entries, v.gallery.space, config))
    spare = fresh["spare"]
    add_nerfs(w, spare[:2], nf2vec=fresh["model"], thumbnails=False)
    remove_ids(w, [spare[0].stem])
    add_nerfs(w, [spare[0]], nf2vec=fresh["model"], thumbnails=False)  # re-added: new row wins
    remove_ids(w, [fresh["initial"][0].stem])
    live = cat.load_version()
    assert live.gallery.config.kind == "ivf-sq8" and len(live) == 13
    ids, exact = _exact_rows(w)
    np.testing.assert_allclose(exact, fresh["nerf_table"].subset(ids).vectors, rtol=0,
                               atol=1e-5)
    # the index equals one built once from the exact rows: nothing re-quantised
    from clip2nerf.index import Gallery

    once = Gallery.from_vectors(exact, ids, live.gallery.labels, live.gallery.space, config)
    np.testing.assert_array_equal(gallery_vectors(live.gallery), gallery_vectors(once))
    # row tables no kept version lists are gone
    used = {r for p in cat.versions.iterdir() if not p.name.startswith(".")
            for r in cat.load_version(p.name).gallery.extra["rows"]}
    assert {f"rows/{p.name}" for p in (cat.root / "rows").iterdir()} == used


def _same_version(a: Path, b: Path) -> None:
    va, vb = Catalogue(a).load_version(), Catalogue(b).load_version()
    assert (va.name, va.gallery.ids, va.gallery.labels) == (vb.name, vb.gallery.ids,
                                                            vb.gallery.labels)
    strip = [{i: {k: v for k, v in e.items() if k != "added"} for i, e in entries.items()}
             for entries in (va.entries, vb.entries)]
    assert strip[0] == strip[1]
    # Same machine, same kernels (Ray's workers inherit the environment, instruction-set
    # switches included); shards batch other NeRFs together, which can change a kernel's
    # blocking: a few float32 ulps of unit vectors (1e-6 = 16 ulps of 1).
    np.testing.assert_allclose(gallery_vectors(va.gallery), gallery_vectors(vb.gallery),
                               rtol=0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.numerics  # compares rows embedded by Ray workers with this process's
def test_catalogue_add_on_ray_retries_matches_local_and_resumes(fresh, ray_local, tmp_path,
                                                                 monkeypatch):
    from clip2nerf.cli.main import main

    local, ray_w = fresh["workdir"], tmp_path / "ray-cat"
    shutil.copytree(local, ray_w)
    spare = [str(f) for f in fresh["spare"]]
    opts = ["--no-thumbnails", "--device", "cpu", "--shard-size", "2"]
    assert main(["catalogue", "add", *spare, "--workdir", str(local), *opts]) == 0
    (ray_local / "shard-00001.fail").touch()
    assert main(["catalogue", "add", *spare, "--workdir", str(ray_w), *opts,
                 "--executor", "ray", "--max-retries", "2"]) == 0
    assert not (ray_local / "shard-00001.fail").exists()  # failed once, then retried
    _same_version(local, ray_w)

    # An interrupted add: shard 0 of 2 finished; the rerun on Ray embeds only shard 1.
    again_l, again_r = tmp_path / "l2", tmp_path / "r2"
    shutil.copytree(fresh["workdir"], again_l)
    shutil.copytree(fresh["workdir"], again_r)
    for w in (again_l, again_r):  # back to the 12 NeRFs, through the CLI
        assert main(["catalogue", "remove", *[Path(f).stem for f in spare],
                     "--workdir", str(w)]) == 0
    with interrupted_at_shard(monkeypatch, rows_mod, "add_shard", 1), \
            pytest.raises(KeyboardInterrupt):
        add_nerfs(again_r, spare, nf2vec=fresh["model"], thumbnails=False,
                  executor=ExecutorConfig("local", shard_size=2))
    submitted = record_submitted(monkeypatch, rows_mod)
    assert main(["catalogue", "add", *spare, "--workdir", str(again_r), *opts,
                 "--executor", "ray"]) == 0
    assert submitted == ["shard-00001"]
    assert main(["catalogue", "add", *spare, "--workdir", str(again_l), *opts]) == 0
    _same_version(again_l, again_r)

    # a refused file fails at once (a UserError is not retried), naming the file
    nan = nerf_with_nan(fresh["spare"][0], tmp_path / "nan.safetensors")
    with pytest.raises(UserError, match="nan.safetensors.*NaN"):
        add_nerfs(again_r, [nan], nf2vec=fresh["model"], thumbnails=False,
                  executor=ExecutorConfig("ray", max_retries=3))


def test_a_failed_publish_keeps_the_staged_shards_for_the_rerun(fresh, monkeypatch):
    w = fresh["workdir"]
    files = fresh["spare"][:2]
    before = Catalogue(w).load_version().name
    real_publish = Catalogue.publish

    def broken(*args, **kwargs):
        raise OSError("disk full")

    embedded = []
    real = rows_mod.add_shard
    monkeypatch.setattr(rows_mod, "add_shard", lambda *a, **k: embedded.append(1) or real(*a, **k))
    monkeypatch.setattr(Catalogue, "publish", broken)
    with pytest.raises(OSError):
        add_nerfs(w, files, nf2vec=fresh["model"], thumbnails=False)
    assert embedded  # the shards were embedded once
    staged = list((w / "catalogue" / "staging").rglob("shard-*.safetensors"))
    assert staged  # still there for the rerun
    assert Catalogue(w).load_version().name == before  # nothing published
    monkeypatch.setattr(Catalogue, "publish", real_publish)
    embedded.clear()
    rep = add_nerfs(w, files, nf2vec=fresh["model"], thumbnails=False)
    assert len(rep.added) == 2 and not embedded  # the rerun reused the staged shards


def test_an_oversized_non_table_source_is_refused(fresh, tmp_path, monkeypatch):
    big = tmp_path / "big.safetensors"
    big.write_bytes(b"\0" * 64)
    monkeypatch.setattr(rows_mod, "MAX_SOURCE_BYTES", 32)
    with pytest.raises(UserError, match="too large for a NeRF file"):
        add_nerfs(fresh["workdir"], [big], nf2vec=fresh["model"], thumbnails=False)


def test_an_oversized_embeddings_table_is_added_through_its_header(fresh, tmp_path,
                                                                   monkeypatch):
    table = fresh["nerf_table"].subset([f.stem for f in fresh["spare"][:2]])
    big = tmp_path / "big-table.safetensors"
    table.save(big)
    monkeypatch.setattr(rows_mod, "MAX_SOURCE_BYTES", 32)  # the table is far larger
    rep = add_nerfs(fresh["workdir"], [big], nf2vec=fresh["model"], thumbnails=False)
    assert sorted(rep.added) == sorted(table.ids) and rep.size == 14
