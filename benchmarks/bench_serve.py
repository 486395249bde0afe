"""Bounded load test of `clip2nerf serve` on loopback: text and one-image search at 10k NeRFs.

The service runs in its own process (uvicorn, 127.0.0.1, a free port) with the models of a
finished demo workdir (its VLM, nf2vec and mappers) over a catalogue of ``--size`` synthetic
nf2vec embeddings (random unit vectors in the demo nf2vec model's space: search cost depends
on the size, not on what the vectors mean). A fixed number of requests is sent by
``--concurrency`` client threads, stopping early at ``--duration`` seconds; the table gives
throughput, p50 and p99 latency per query kind, and errors.

    python benchmarks/bench_serve.py --workdir clip2nerf-demo
    python benchmarks/bench_serve.py --workdir clip2nerf-demo --locks text,all,none

``--locks`` runs the load once per lock mode of the service (``text``: the default, only the
VLM's text tower serialised; ``all``: every model call; ``none``) and checks, per mode, that
answers to concurrent requests equal the serial ones.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SERVER = """
import sys
import uvicorn
from clip2nerf.serve import create_app
app = create_app(sys.argv[1], lock=sys.argv[3])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""

TEXTS = ["a 3d model of a car", "a jet plane", "a couch", "an office seat", "a sailing boat",
         "a computer monitor", "a red sports car", "a wooden table", "a desk lamp",
         "a small speaker", "a rifle", "a telephone", "a long bench", "a cupboard"]


def build_catalogue(demo: Path, out: Path, size: int, seed: int) -> None:
    """A catalogue over the demo's models holding ``size`` synthetic embeddings."""
    from clip2nerf.catalogue import Catalogue, CatalogueModels
    from clip2nerf.nf2vec import Nf2vec

    src = Catalogue(demo)
    m = src.models()
    models = CatalogueModels(nf2vec=str(src.resolve(m.nf2vec)),
                             clip2nerf=str(src.resolve(m.clip2nerf)),
                             nerf2clip=str(src.resolve(m.nerf2clip)),
                             vlm=str(src.resolve(m.vlm)), classes=src.classes(m))
    nf2vec = Nf2vec.from_pretrained(models.nf2vec)
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(size, nf2vec.config.encoder.embed_dim)).astype(np.float32)
    ids = [f"synthetic_{i:06d}" for i in range(size)]
    entries = {i: {"class": models.classes[k % len(models.classes)], "caption": None,
                   "source": None, "added": None} for k, i in enumerate(ids)}
    cat = Catalogue(out)
    cat.write_models(models)
    cat.commit(vectors, ids, entries, nf2vec.space)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workdir: Path, lock: str, threads: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(workdir), str(port), lock],
                            env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start within 300 s")


def query_images(n: int, seed: int) -> list[bytes]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        arr = np.full((224, 224, 3), 255, np.uint8)
        c = rng.integers(0, 255, 3, dtype=np.uint8)
        x0, y0 = rng.integers(30, 90, 2)
        arr[y0:y0 + 90, x0:x0 + 110] = c
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def run_load(url: str, kind: str, requests: int, duration: float, concurrency: int,
             k: int, images: list[bytes]) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    lock = threading.Lock()
    t_end = time.monotonic() + duration

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=30) as c:
            while time.monotonic() < t_end:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                if kind == "text":
                    r = c.get("/api/search", params={"text": TEXTS[i % len(TEXTS)], "k": k})
                else:
                    img = images[i % len(images)]
                    r = c.post("/api/search/images", data={"k": str(k)},
                               files=[("files", ("q.png", img, "image/png"))])
                dt = time.perf_counter() - t0
                with lock:
                    if r.status_code == 200 and len(r.json()["results"]) == k:
                        latencies.append(dt)
                    else:
                        errors += 1

    # warm-up (first calls load lazy parts of the models)
    with httpx.Client(base_url=url, timeout=60) as c:
        c.get("/api/search", params={"text": "warm up", "k": k})
        c.post("/api/search/images", files=[("files", ("q.png", images[0], "image/png"))])
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] * 1000 if lat \
            else float("nan")

    return {"kind": kind, "done": len(lat), "errors": errors, "wall_s": wall,
            "qps": len(lat) / wall, "p50_ms": pct(50), "p99_ms": pct(99),
            "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan")}


def check_concurrent_equals_serial(url: str, k: int) -> bool:
    import httpx

    with httpx.Client(base_url=url, timeout=60) as c:
        serial = {t: c.get("/api/search", params={"text": t, "k": k}).json()["results"]
                  for t in TEXTS}
    got: dict[str, list] = {}

    def worker(texts: list[str]) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            for _ in range(3):
                for t in texts:
                    res = c.get("/api/search", params={"text": t, "k": k}).json()["results"]
                    if got.setdefault(t, res) != res:
                        got[t] = []  # differs between repeats
    threads = [threading.Thread(target=worker, args=(TEXTS[i::4] + TEXTS,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got == serial


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, required=True,
                    help="a finished `clip2nerf demo` workdir (its models are used)")
    ap.add_argument("--size", type=int, default=10_000, help="NeRFs in the catalogue")
    ap.add_argument("--requests", type=int, default=400, help="requests per query kind")
    ap.add_argument("--duration", type=float, default=30.0, help="max seconds per kind")
    ap.add_argument("--concurrency", type=int, default=4, help="client threads")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--server-threads", type=int, default=2,
                    help="OMP_NUM_THREADS of the server (torch intra-op threads)")
    ap.add_argument("--locks", default="text",
                    help="comma-separated lock modes to run: text (default), all, none")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    images = query_images(16, args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        cat = Path(tmp) / "catalogue"
        cat.mkdir()
        t0 = time.perf_counter()
        build_catalogue(args.workdir, cat, args.size, args.seed)
        print(f"catalogue of {args.size} synthetic NeRF embeddings built in "
              f"{time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}")
        for lock in args.locks.split(","):
            proc, url = start_server(cat, lock, args.server_threads)
            try:
                same = check_concurrent_equals_serial(url, args.k)
                for kind in ("text", "image"):
                    r = run_load(url, kind, args.requests, args.duration, args.concurrency,
                                 args.k, images)
                    rows.append({**r, "lock": lock, "same": same})
            finally:
                proc.terminate()
                proc.wait(30)
    print(f"\n{args.size} NeRFs, k={args.k}, {args.concurrency} client threads, "
          f"{args.requests} requests or {args.duration:.0f} s per kind, server OMP threads "
          f"{args.server_threads}")
    print(f"{'query':<7} {'lock':<5} {'done':>5} {'err':>4} {'q/s':>7} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'mean ms':>8}  concurrent == serial")
    for r in rows:
        print(f"{r['kind']:<7} {r['lock']:<5} {r['done']:>5} {r['errors']:>4} {r['qps']:>7.1f} "
              f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['mean_ms']:>8.1f}  {r['same']}")


if __name__ == "__main__":
    main()
