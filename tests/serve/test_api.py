"""The HTTP API over a tiny catalogue, checked against the apps layer it composes."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image
from serve_world import N_INITIAL, nerf_other_architecture, nerf_with_nan, png

from clip2nerf.apps import classify_nerfs, load_mapper, search
from clip2nerf.catalogue import Catalogue


def _apps_models(served):
    vlm, model = served["vlm"], served["model"]
    return (vlm, model, load_mapper(served["mappers"]["clip2nerf"], "clip2nerf", vlm, model),
            load_mapper(served["mappers"]["nerf2clip"], "nerf2clip", vlm, model))


def test_health_catalogue_page_and_docs(client):
    assert client.get("/api/health").json() == {"status": "ok", "version": "v000001",
                                                "size": N_INITIAL}
    info = client.get("/api/catalogue").json()
    assert info["size"] == N_INITIAL and info["vlm"] == "fake-test-vlm"
    assert info["classes"] == ["chair", "lamp", "car", "table"]
    assert info["nf2vec_space"].startswith("nf2vec:tiny@")
    page = client.get("/")
    assert page.status_code == 200 and 'id="text-query"' in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN, no external font
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/search/text", "/api/search/images", "/api/classify",
            "/api/generate/text", "/api/nerfs/{object_id}"} <= set(paths)


def test_text_search_matches_the_apps_layer(client, served):
    vlm, _, c2n, _ = _apps_models(served)
    gallery = Catalogue(served["workdir"]).load_version().gallery
    want = search(gallery, c2n, vlm, text="a red chair", k=5)
    got = client.post("/api/search/text", json={"text": "a red chair", "k": 5}).json()
    assert [r["id"] for r in got["results"]] == [h.object_id for h in want]
    assert [r["score"] for r in got["results"]] == pytest.approx([h.score for h in want],
                                                                 abs=1e-4)
    assert got["results"][0]["thumbnail"] == f"/api/nerfs/{want[0].object_id}/views/0.png"
    same = client.get("/api/search", params={"text": "a red chair", "k": 5}).json()
    assert same["results"] == got["results"]
    # k larger than the catalogue returns the whole catalogue, best first
    everything = client.post("/api/search/text", json={"text": "a lamp", "k": 100}).json()
    scores = [r["score"] for r in everything["results"]]
    assert len(scores) == N_INITIAL and scores == sorted(scores, reverse=True)


def test_image_search_is_the_mean_of_mapped_views(client, served):
    vlm, _, c2n, _ = _apps_models(served)
    gallery = Catalogue(served["workdir"]).load_version().gallery
    red, blue = png(colour=(220, 30, 30)), png(32, 20, (30, 30, 220), fmt="JPEG")
    arrays = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in (red, blue)]
    want = search(gallery, c2n, vlm, images=arrays, k=4)
    got = client.post("/api/search/images", data={"k": "4"},
                      files=[("files", ("red.png", red, "image/png")),
                             ("files", ("blue.jpg", blue, "image/jpeg"))]).json()
    assert got["query"] == {"images": 2}
    assert [r["id"] for r in got["results"]] == [h.object_id for h in want]
    one = client.post("/api/search/images", files=[("files", ("red.png", red, "image/png"))])
    assert one.status_code == 200 and len(one.json()["results"]) == 5


def test_classify_an_uploaded_nerf_like_the_cli(client, served, tmp_path):
    vlm, model, _, n2c = _apps_models(served)
    path = served["spare"][0]
    want = classify_nerfs([path], model, n2c, vlm, classes=["chair", "lamp", "car", "table"])[0]
    got = client.post("/api/classify",
                      files={"file": ("mine.safetensors", path.read_bytes())}).json()
    assert got["label"] == want.label and got["score"] == pytest.approx(want.score, abs=1e-4)
    assert got["object_id"] == want.object_id and got["file"] == "mine.safetensors"
    assert [s["class"] for s in got["scores"]][0] == want.label
    assert sorted(s["class"] for s in got["scores"]) == ["car", "chair", "lamp", "table"]
    for bad, match in [(nerf_with_nan(path, tmp_path / "nan.safetensors"), "NaN"),
                       (nerf_other_architecture(tmp_path / "wide.safetensors"), "architecture")]:
        r = client.post("/api/classify", files={"file": ("bad.safetensors", bad.read_bytes())})
        assert r.status_code == 422 and match in r.json()["error"]
        assert "'bad.safetensors'" in r.json()["error"]  # names the upload, not a temp path


def test_generate_from_text_and_image_returns_a_png_strip(client):
    r = client.post("/api/generate/text", json={"text": "a 3d model of a chair", "views": 3})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    im = Image.open(io.BytesIO(r.content))
    assert im.size == (3 * 24, 24)
    r = client.post("/api/generate/images", data={"views": "2"},
                    files=[("files", ("p.png", png(), "image/png"))])
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (2 * 24, 24)
    assert client.post("/api/generate/text", json={"text": "x", "views": 99}).status_code == 422


def test_nerf_metadata_and_cached_views(client, served):
    oid = Catalogue(served["workdir"]).load_version().gallery.ids[0]
    info = client.get(f"/api/nerfs/{oid}").json()
    assert info["id"] == oid and info["class"] == oid.split("_")[0] and len(info["views"]) == 6
    r = client.get(info["views"][1])
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (24, 24)
    cached = list((served["workdir"] / "catalogue" / "thumbs").glob("*.png"))
    assert cached, "views are cached on disk"
    assert client.get(info["views"][1]).content == r.content
    for bad in ("nope_0000", "..", "%2e%2e%2fcatalogue.json", "a" * 200):
        r = client.get(f"/api/nerfs/{bad}")
        assert r.status_code == 404 and "error" in r.json()
    assert client.get(f"/api/nerfs/{oid}/views/6.png").status_code == 404


def test_oversized_body_is_refused_before_reading(client):
    r = client.post("/api/search/images", content=b"0" * 10,
                    headers={"content-length": str(64 * 1024 * 1024),
                             "content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413 and "MB" in r.json()["error"]


@pytest.mark.parametrize("lock", ["text", "all", "none"])
def test_concurrent_requests_give_the_serial_answers(served, lock):
    """Threads as uvicorn's pool runs them: the answers equal the one-at-a-time ones."""
    from fastapi.testclient import TestClient
    from serve_world import make_app

    queries = [f"a {c} number {i}" for i in range(6) for c in ("chair", "lamp", "car")]
    with TestClient(make_app(served["workdir"], served, lock=lock)) as c:
        serial = {q: c.get("/api/search", params={"text": q, "k": 5}).json()["results"]
                  for q in queries}
        got, errors = {}, []

        def worker(qs):
            try:
                for q in qs:
                    got[q] = c.get("/api/search", params={"text": q, "k": 5}).json()["results"]
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(queries[i::6],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors and got == serial


def test_the_http_reference_lists_every_route_and_limit(client):
    """docs/reference/http.md cannot rot: each route the app serves, and each limit, is in it."""
    from pathlib import Path

    from clip2nerf.serve import limits

    doc = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "http.md").read_text()
    routes = {f"`{method.upper()} {path}".replace("{object_id}", "{id}").replace("{view}", "{i}")
              for path, ops in client.get("/openapi.json").json()["paths"].items()
              for method in ops}
    assert len(routes) == 11
    assert {r for r in routes if r not in doc} == set()
    mb = 1024 * 1024
    side = int(limits.MAX_IMAGE_PIXELS ** 0.5)
    for cell in (f"| request body | {limits.MAX_REQUEST_BYTES // mb} MB |",
                 f"| {limits.MAX_IMAGE_BYTES // mb} MB / {limits.MAX_NERF_BYTES // mb} MB |",
                 f"| {side} × {side} |", f"| images per query | {limits.MAX_IMAGES} |",
                 f"| `k` | 1 to {limits.MAX_K} |", f"| 1 to {limits.MAX_TEXT_CHARS} characters |",
                 f"| generated views | 1 to {limits.MAX_GENERATE_VIEWS} |"):
        assert cell in doc, cell
