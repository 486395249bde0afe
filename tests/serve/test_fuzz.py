"""Malformed requests of every kind get a 4xx JSON error, never a 500, and the server goes on.

The cases are generated (truncations at many offsets, random bytes, bad k values...) so that
well over 200 distinct malformed requests reach the app; the test asserts the count.
"""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
from serve_world import nerf_other_architecture, nerf_with_nan, png

MIN_CASES = 200


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (valid CRCs) with a tiny IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _bomb_png() -> bytes:
    """A real, small-on-disk PNG of 5000 x 5000 pixels (over the pixel cap)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (5000, 5000)).save(buf, format="PNG")
    return buf.getvalue()


def _gif_declaring(width: int, height: int) -> bytes:
    return (b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"
            + b",\x00\x00\x00\x00" + struct.pack("<HH", width, height) + b"\x00\x02\x02D\x01\x00;")


def _bad_images(rng) -> list[tuple[str, bytes, str]]:
    good_png, good_jpg = png(40, 40), png(40, 40, fmt="JPEG")
    out = [("empty.png", b"", "image/png")]
    for cut in np.linspace(1, len(good_png) - 20, 12).astype(int):  # cut into the pixel data
        out.append((f"trunc{cut}.png", good_png[:cut], "image/png"))
    for cut in np.linspace(1, len(good_jpg) // 2, 8).astype(int):
        out.append((f"trunc{cut}.jpg", good_jpg[:cut], "image/jpeg"))
    for i in range(8):
        out.append((f"noise{i}.png", rng.bytes(int(rng.integers(1, 4000))), "image/png"))
    for w, h in [(100_000, 100_000), (65_535, 65_535), (5000, 5000), (1, 20_000_000),
                 (0, 10), (2**31 - 1, 2**31 - 1)]:
        out.append((f"huge{w}x{h}.png", _png_declaring(w, h), "image/png"))
    out.append(("huge.gif", _gif_declaring(65_535, 65_535), "image/gif"))
    out.append(("bomb.png", _bomb_png(), "image/png"))
    out += [("page.html", b"<html><body>hi</body></html>", "text/html"),
            ("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg' width='9e9' height='9e9'/>",
             "image/svg+xml"),
            ("doc.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj", "application/pdf"),
            ("a.json", b'{"text": "a chair"}', "application/json"),
            ("z.zip", b"PK\x03\x04" + rng.bytes(100), "application/zip"),
            ("nul.png", b"\x00" * 1000, "image/png")]
    return out


def _bad_nerfs(served, tmp_path, rng) -> list[tuple[str, bytes]]:
    good = served["spare"][0].read_bytes()
    out = [("empty.safetensors", b"")]
    for cut in np.linspace(1, len(good) - 1, 14).astype(int):
        out.append((f"trunc{cut}.safetensors", good[:cut]))
    for i in range(6):
        out.append((f"noise{i}.safetensors", rng.bytes(int(rng.integers(1, 5000)))))
    out.append(("nan.safetensors", nerf_with_nan(served["spare"][0],
                                                 tmp_path / "nan.safetensors").read_bytes()))
    out.append(("wide.safetensors",
                nerf_other_architecture(tmp_path / "wide.safetensors").read_bytes()))
    out.append(("huge-header.safetensors", struct.pack("<Q", 2**62) + b"{}"))
    out.append(("header-lies.safetensors", struct.pack("<Q", 40) + b'{"a":{"dtype":"F32",'
                b'"shape":[1000000000],"data_offsets":[0,4000000000]}}'))
    out.append(("json-header.safetensors", struct.pack("<Q", 2) + b"{}"))
    out.append(("photo.png", png()))
    out.append(("emb.safetensors", served["nerf_table_file"].read_bytes()))
    return out


def _cases(served, tmp_path) -> list[tuple[str, str, dict]]:
    rng = np.random.default_rng(0)
    cases: list[tuple[str, str, dict]] = []
    add = lambda method, url, **kw: cases.append((method, url, kw))  # noqa: E731
    for name, data, ctype in _bad_images(rng):
        add("POST", "/api/search/images", files=[("files", (name, data, ctype))])
        add("POST", "/api/generate/images", files=[("files", (name, data, ctype))])
    # one good and one bad view: the bad one still fails the query
    add("POST", "/api/search/images", files=[("files", ("ok.png", png(), "image/png")),
                                             ("files", ("bad.png", b"\x89PNG", "image/png"))])
    add("POST", "/api/search/images", files=[("files", (f"{i}.png", png(), "image/png"))
                                             for i in range(17)])
    add("POST", "/api/search/images", data={"k": "5"})
    add("POST", "/api/search/images", content=b"--x\r\nbroken", headers={
        "content-type": "multipart/form-data; boundary=x"})
    add("POST", "/api/search/images", json={"files": ["a.png"]})
    for k in ["0", "-1", "1000000000", "abc", "1.5", "1e3", str(2**70), "101"]:
        add("POST", "/api/search/images", data={"k": k},
            files=[("files", ("ok.png", png(), "image/png"))])
    for name, data in _bad_nerfs(served, tmp_path, rng):
        add("POST", "/api/classify", files={"file": (name, data, "application/octet-stream")})
    add("POST", "/api/classify", data={"file": "not a file"})
    add("POST", "/api/classify", json={"file": "x"})
    add("POST", "/api/classify", content=b"raw", headers={"content-type": "text/plain"})
    bodies = [b"{", b"[]", b"null", b'"a chair"', b'{"text": 5}', b'{"k": 3}', b"\xff\xfe\x00",
              b"{'text': 'a'}", b'{"text": {"nested": ["x"]}}', b'{"text": "a", "k": "many"}',
              b'{"text": "a", "k": null}', b'{"text": "a", "k": 1.5}', b'{"text": "a", "k": true}',
              b'{"text": "a", "k": 1e400}', b'{"text": "a", "k": NaN}', b"", b" " * 100,
              b'{"text": "\\ud800"}', b'{"text": null}', b"\x00" * 50]
    for body in bodies:
        for url in ("/api/search/text", "/api/generate/text"):
            add("POST", url, content=body, headers={"content-type": "application/json"})
    for text in ["", "   ", "\n\t", "x" * 301, "chair " * 2000, "a\x00b", "a\x07chair",
                 "\x1b[31mred"]:
        add("POST", "/api/search/text", json={"text": text, "k": 5})
        add("GET", "/api/search", params={"text": text})
        add("POST", "/api/generate/text", json={"text": text})
    for k in [0, -1, 10**9, -(10**9), 101, 2**63, 2**80]:
        add("POST", "/api/search/text", json={"text": "a chair", "k": k})
        add("GET", "/api/search", params={"text": "a chair", "k": str(k)})
    for k in ["x", "1.5", "", "0x10", "1e9"]:
        add("GET", "/api/search", params={"text": "a chair", "k": k})
    add("GET", "/api/search")
    add("POST", "/api/search/text", data={"text": "a chair"})  # a form, not JSON
    add("POST", "/api/search/text", content=b"text=a+chair",
        headers={"content-type": "application/x-www-form-urlencoded"})
    add("POST", "/api/search/text", content=b'{"text": "a chair"}',
        headers={"content-type": "text/plain"})
    for views in [0, -1, 9, 10**9]:
        add("POST", "/api/generate/text", json={"text": "a chair", "views": views})
        add("POST", "/api/generate/images", data={"views": str(views)},
            files=[("files", ("ok.png", png(), "image/png"))])
    for bad_id in ["..", ".", "...", "../../catalogue.json", "..%2F..%2Fetc%2Fpasswd", "%2e%2e",
                   "a%00b", "CURRENT", "catalogue.json", "a\\b", "x" * 129, "%E2%98%83",
                   "chair_0000%2F..%2F..", "~root", "$(id)", "a%20b", "nerfs", "thumbs",
                   "/etc/passwd", "%252e%252e"]:
        add("GET", f"/api/nerfs/{bad_id}")
        add("GET", f"/api/nerfs/{bad_id}/views/0.png")
    real = served["initial"][0].stem
    for view in ["-1", "6", "999999999999", "x", "0.5", "%2e%2e"]:
        add("GET", f"/api/nerfs/{real}/views/{view}.png")
    for method, url in [("GET", "/api/classify"), ("DELETE", "/api/search/text"),
                        ("PUT", "/api/reload"), ("GET", "/api/generate/text"),
                        ("GET", "/api/does-not-exist"), ("GET", "/static/../serve/app.py"),
                        ("GET", "/static/%2e%2e/app.py"), ("GET", "/static/nothing.js")]:
        add(method, url)
    return cases


def test_malformed_requests_get_4xx_json_never_500(client, served, tmp_path):
    served = {**served, "nerf_table_file": tmp_path / "emb.safetensors"}
    served["nerf_table"].save(served["nerf_table_file"])
    cases = _cases(served, tmp_path)
    assert len(cases) >= MIN_CASES, len(cases)
    statuses: dict[int, int] = {}
    failures = []
    for method, url, kw in cases:
        r = client.request(method, url, **kw)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") \
            else None
        if not 400 <= r.status_code < 500 or not (isinstance(body, dict) and body.get("error")):
            failures.append((method, url, str(kw)[:120], r.status_code, r.text[:200]))
    assert not failures, f"{len(failures)} of {len(cases)} not a 4xx JSON error: {failures[:8]}"
    print(f"\nfuzz: {len(cases)} malformed requests -> {dict(sorted(statuses.items()))}")
    # still answering, correctly
    assert client.get("/api/health").json()["status"] == "ok"
    r = client.post("/api/search/text", json={"text": "a chair", "k": 3})
    assert r.status_code == 200 and len(r.json()["results"]) == 3
    assert json.loads(client.get("/api/catalogue").text)["size"] == len(served["initial"])
