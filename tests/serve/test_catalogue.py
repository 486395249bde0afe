"""Catalogue updates: atomic (kill -9 mid-update leaves the old version), picked up live,
refusing what does not belong; and a demo-shaped workdir served as it is."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from serve_world import make_app, nerf_other_architecture, nerf_with_nan

from clip2nerf.catalogue import Catalogue, LiveCatalogue, add_nerfs, remove_ids
from clip2nerf.errors import UserError
from clip2nerf.utils.embeddings import EmbeddingTable

SRC = Path(__file__).parents[2] / "src"


def _state(workdir: Path) -> tuple[str, list[str]]:
    v = Catalogue(workdir).load_version()
    return v.name, list(v.gallery.ids)


def test_add_and_remove_are_seen_by_a_running_server(fresh):
    from fastapi.testclient import TestClient

    w = fresh["workdir"]
    with TestClient(make_app(w, fresh)) as c:
        assert c.get("/api/health").json()["size"] == 12
        rep = add_nerfs(w, fresh["spare"], nf2vec=fresh["model"], thumbnails=False)
        assert rep.version == "v000002" and rep.size == 16 and len(rep.added) == 4
        # the next request sees the new version, without a restart or a reload call
        assert c.get("/api/health").json() == {"status": "ok", "version": "v000002",
                                               "size": 16}
        got = c.post("/api/search/text", json={"text": "a chair", "k": 16}).json()
        assert set(rep.added) <= {r["id"] for r in got["results"]}
        new = rep.added[0]
        assert c.get(f"/api/nerfs/{new}").json()["file"].endswith(".safetensors")
        assert c.get(f"/api/nerfs/{new}/views/0.png").status_code == 200
        remove_ids(w, [new])
        assert c.post("/api/reload").json() == {"version": "v000003", "size": 15}
        assert c.get(f"/api/nerfs/{new}").status_code == 404
    # old versions beyond KEEP_OLD_VERSIONS are pruned, the live one kept
    assert sorted(p.name for p in (w / "catalogue" / "versions").iterdir()) == \
        ["v000001", "v000002", "v000003"]
    with pytest.raises(UserError, match="not in the catalogue"):
        remove_ids(w, ["nope_0000"])
    assert _state(w)[0] == "v000003"


def test_refused_files_are_named_and_change_nothing(fresh, tmp_path):
    w, model = fresh["workdir"], fresh["model"]
    before = _state(w)
    nan = nerf_with_nan(fresh["spare"][0], tmp_path / "nan.safetensors")
    wide = nerf_other_architecture(tmp_path / "wide.safetensors")
    table = fresh["nerf_table"].subset([f.stem for f in fresh["spare"]])
    other = tmp_path / "other-space.safetensors"
    EmbeddingTable(table.vectors, table.ids, table.labels, "nf2vec:other@00000000").save(other)
    cases = [([fresh["spare"][1], nan], "nan.safetensors.*NaN"),
             ([wide], "wide.safetensors.*architecture"),
             ([other], "other-space.safetensors.*nf2vec"),
             ([fresh["initial"][0]], "already in the catalogue")]
    for files, match in cases:
        with pytest.raises(UserError, match=match):
            add_nerfs(w, files, nf2vec=model, thumbnails=False)
        assert _state(w) == before
    # a table of the catalogue's own space is added as it is
    same = tmp_path / "same-space.safetensors"
    table.save(same)
    rep = add_nerfs(w, [same], nf2vec=model, thumbnails=False)
    assert sorted(rep.added) == sorted(table.ids) and rep.size == 16


_KILLED_WRITER = """
import sys, time
from pathlib import Path
import clip2nerf.catalogue.store as store
from clip2nerf.catalogue import add_nerfs
from clip2nerf.nf2vec import Nf2vec

marker = Path(sys.argv[3])
where = sys.argv[4]

def stall():
    marker.write_text("stalled")
    time.sleep(120)

if where == "before-switch":      # new version folder complete, CURRENT not yet replaced
    real = store.atomic_write_text
    def slow(path, text):
        stall()
        real(path, text)
    store.atomic_write_text = slow
else:                              # inside Gallery.save: half a version folder on disk
    import faiss
    real = faiss.write_index
    def slow(index, path):
        real(index, path)
        stall()
    faiss.write_index = slow
add_nerfs(sys.argv[1], [sys.argv[2]], nf2vec=Nf2vec.from_pretrained(sys.argv[5]),
              thumbnails=False)
"""


@pytest.mark.parametrize("where", ["before-switch", "mid-write"])
def test_kill_9_mid_update_leaves_the_old_version_served(fresh, tmp_path, where):
    from fastapi.testclient import TestClient

    w = fresh["workdir"]
    before = _state(w)
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_KILLED_WRITER), str(w),
                             str(fresh["spare"][0]), str(marker), where, str(fresh["nf2vec"])],
                            env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the writer ended before the kill point"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with TestClient(make_app(w, fresh)) as c:  # a server started mid-update
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            assert _state(w) == before
            assert c.get("/api/health").json()["version"] == before[0]
            r = c.post("/api/search/text", json={"text": "a lamp", "k": 3})
            assert r.status_code == 200 and len(r.json()["results"]) == 3
            # the killed writer's lock died with it: a finished update goes through and is seen
            rep = add_nerfs(w, fresh["spare"][:2], nf2vec=fresh["model"], thumbnails=False)
            assert c.get("/api/health").json() == {"status": "ok", "version": rep.version,
                                                   "size": 14}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # leftovers of the killed update are cleaned by the next one
    assert not list((w / "catalogue" / "versions").glob(".*.tmp"))


def test_live_catalogue_keeps_serving_when_the_new_version_is_unreadable(fresh):
    w = fresh["workdir"]
    live = LiveCatalogue(Catalogue(w), log=lambda m: None)
    (w / "catalogue" / "CURRENT").write_text("v000099\n")  # points at nothing
    assert live.get().name == "v000001"
    (w / "catalogue" / "CURRENT").write_text("../../etc\n")
    assert live.get().name == "v000001"


def test_a_demo_shaped_workdir_is_served_as_it_is(served, tmp_path):
    """W/nf2vec, W/mappers/{clip2nerf-gt-multimodal,nerf2clip-gt-N}, W/gallery, W/data:
    no catalogue folder needed; the first update builds on the demo's gallery."""
    from fastapi.testclient import TestClient

    from clip2nerf.index import Gallery

    w = tmp_path / "demo"
    w.mkdir()
    shutil.copytree(served["nf2vec"], w / "nf2vec")
    shutil.copytree(served["data"], w / "data")
    shutil.copytree(served["nerfs"], w / "nerfs")
    shutil.copytree(served["mappers"]["clip2nerf"], w / "mappers" / "clip2nerf-gt-multimodal")
    shutil.copytree(served["mappers"]["nerf2clip"], w / "mappers" / "nerf2clip-gt-4")
    table = served["nerf_table"]
    ids = [i for i in table.ids if i.endswith(("0", "1"))]
    # the demo's sources are wherever it ran: a path outside W falls back to W/nerfs/<id>
    Gallery.from_table(table.subset(ids)).save(w / "gallery")
    cat = Catalogue(w)
    m = cat.models()
    assert (m.clip2nerf, m.nerf2clip, m.vlm) == ("mappers/clip2nerf-gt-multimodal",
                                                 "mappers/nerf2clip-gt-4", "vlm")
    base = cat.load_version()
    assert base.name == "v000000" and sorted(base.entries) == sorted(ids)
    entry = base.entries[ids[0]]
    assert entry["source"] == f"nerfs/{ids[0]}.safetensors" and entry["caption"]
    with TestClient(make_app(w, served)) as c:
        assert c.get("/api/health").json() == {"status": "ok", "version": "v000000",
                                               "size": len(ids)}
        hit = c.get("/api/search", params={"text": "a car", "k": 1}).json()["results"][0]
        assert c.get(hit["thumbnail"]).status_code == 200
        assert not (w / "catalogue" / "CURRENT").exists()  # serving wrote no version
        extra = [f for f in sorted(served["nerfs"].glob("*.safetensors"))
                 if f.stem not in ids][:2]
        rep = add_nerfs(w, extra, nf2vec=served["model"], thumbnails=False)
        assert rep.version == "v000001" and rep.size == len(ids) + 2
        assert c.get("/api/health").json()["size"] == len(ids) + 2


def test_catalogue_cli_add_list_remove(fresh, capsys):
    from clip2nerf.cli.main import main

    w = str(fresh["workdir"])
    assert main(["catalogue", "add", str(fresh["spare"][0]), "--workdir", w,
                 "--no-thumbnails", "--device", "cpu"]) == 0
    assert "added 1 NeRFs -> v000002 (13 in all)" in capsys.readouterr().out
    assert main(["catalogue", "list", "--workdir", w]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# v000002: 13 NeRFs") and fresh["spare"][0].stem in out
    assert main(["catalogue", "remove", fresh["spare"][0].stem, "--workdir", w]) == 0
    assert main(["catalogue", "remove", "nope", "--workdir", w]) == 2
    assert "not in the catalogue: nope" in capsys.readouterr().err
    assert main(["serve", "--workdir", str(fresh["workdir"] / "missing")]) == 2


def test_serve_cli_prints_the_url_and_binds_loopback(fresh, monkeypatch, capsys):
    import uvicorn

    import clip2nerf.serve.app as serve_app
    from clip2nerf.cli.main import main

    calls = {}
    app = make_app(fresh["workdir"], fresh)  # the fake VLM cannot be loaded from a spec
    monkeypatch.setattr(serve_app, "create_app", lambda workdir, device, lock: app)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(kw))
    assert main(["serve", "--workdir", str(fresh["workdir"]), "--device", "cpu"]) == 0
    assert calls["host"] == "127.0.0.1" and calls["port"] == 8000
    assert "serving 12 NeRFs (v000001) at http://127.0.0.1:8000/" in capsys.readouterr().out
