"""Gallery kinds at 100k and 1M vectors: build time, disk size, serving memory, latency, recall.

Synthetic 1024-d vectors (the size of nf2vec embeddings) clustered like real embeddings: 1000
cluster centres plus within-cluster noise, both with a decaying spectrum in a random basis
(variance of component j ~ 1/j, as embedding spectra decay), L2-normalised. They are generated
in shards of ``--shard`` rows with a fixed seed per shard, written as a clip2nerf embeddings
shard folder under ``--workdir`` (1M x 1024 float32 is 4 GB: keep it out of the repo and
delete it afterwards, ``--cleanup``), and never held in memory all at once.

Per size and gallery kind:

- build: ``Gallery.from_embeddings`` on the shard folder (the streamed build `clip2nerf index`
  runs), in a subprocess, so its peak resident memory (VmHWM) is the build's own;
- disk: size of ``index.faiss`` (the ids/labels JSON beside it is listed separately);
- serving, in a fresh subprocess that loads the gallery as `clip2nerf search` does (IVF kinds
  memory-mapped): resident memory after the queries (RSS, split into anonymous memory and
  mapped file pages — the latter is page cache the kernel can drop), latency p50/p99 of
  single queries and of batches of 64 through ``Gallery.search`` (the real path, k=10), and
  recall@10 against exact search (computed by chunked brute force over the shards for a
  sample of queries drawn from the same distribution, not from the gallery).

faiss runs with ``--build-threads`` OpenMP threads (``faiss.omp_set_num_threads``) while
building and ``--threads`` while serving.

    python benchmarks/bench_gallery.py --sizes 100000,1000000 --workdir /work/runs/bench_gallery
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 1024
CLUSTERS = 1000


def proc_status() -> dict[str, float]:
    """VmRSS, RssAnon, RssFile, VmHWM of this process in MB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(rest.split()[0]) / 1024
    return out


class Generator:
    """Deterministic clustered vectors; shard ``s`` depends only on (seed, s)."""

    def __init__(self, seed: int = 0, dim: int = DIM) -> None:
        rng = np.random.default_rng(seed)
        basis, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
        self.basis = basis.astype(np.float32)
        self.spectrum = (1.0 / np.sqrt(np.arange(1, dim + 1))).astype(np.float32)
        self.centres = (rng.normal(size=(CLUSTERS, dim)).astype(np.float32)
                        * self.spectrum) @ self.basis
        self.seed, self.dim = seed, dim

    def draw(self, stream: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, stream])
        cls = rng.integers(0, CLUSTERS, m)
        noise = (rng.normal(size=(m, self.dim)).astype(np.float32) * self.spectrum) @ self.basis
        x = self.centres[cls] + 0.6 * noise
        return x / np.linalg.norm(x, axis=1, keepdims=True), cls


def make_shards(gen: Generator, n: int, shard: int, folder: Path) -> None:
    from clip2nerf.utils.embeddings import EmbeddingTable

    for s, lo in enumerate(range(0, n, shard)):
        path = folder / f"part-{s:05d}.safetensors"
        if path.exists():  # resume an interrupted generation
            continue
        m = min(shard, n - lo)
        x, cls = gen.draw(1 + s, m)
        EmbeddingTable(x, [f"o{i}" for i in range(lo, lo + m)], [f"c{c}" for c in cls],
                       "bench:synthetic").save(path)


def exact_top10(folder: Path, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Row numbers of the exact top-k by inner product: (q, k), chunked over the shards."""
    from clip2nerf.utils.embeddings import EmbeddingTable, embedding_files

    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    start = 0
    for path in embedding_files(folder):
        x = EmbeddingTable.load(path).vectors
        s = queries @ x.T
        i = np.broadcast_to(np.arange(start, start + len(x)), s.shape)
        cat_s, cat_i = np.concatenate([best_s, s], 1), np.concatenate([best_i, i], 1)
        top = np.argpartition(-cat_s, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cat_s, top, 1), np.take_along_axis(cat_i, top, 1)
        start += len(x)
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_i, order, 1)


def child_build(args) -> None:
    import faiss

    from clip2nerf.index import Gallery, GalleryConfig

    faiss.omp_set_num_threads(args.build_threads)
    t = time.perf_counter()
    nlist = int(args.nlist) if args.nlist else None
    g = Gallery.from_embeddings(args.emb, config=GalleryConfig(args.kind, nlist, nprobe=8))
    g.save(args.out, overwrite=True)
    print(json.dumps({"build_s": time.perf_counter() - t, "nlist": g.config.nlist,
                      "build_hwm_mb": proc_status()["VmHWM"]}))


def child_serve(args) -> None:
    import faiss

    from clip2nerf.index import Gallery

    faiss.omp_set_num_threads(args.threads)
    q = np.load(args.queries)
    exact = np.load(args.exact)
    g = Gallery.load(args.out)
    loaded = proc_status()
    rows = []
    for nprobe in [int(p) for p in args.nprobe.split(",")] if g.config.kind != "flat" else [0]:
        if nprobe:
            g.set_nprobe(nprobe)
        ids, _ = g.search(q, 10)  # recall on all queries; also warms the lists it touches
        got = np.vectorize(lambda s: int(s[1:]) if s else -1)(ids)
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact,
                                                                           strict=True)]))
        single = []
        for i in range(args.latency_queries):
            t = time.perf_counter()
            g.search(q[i % len(q)], 10)
            single.append(time.perf_counter() - t)
        batch = []
        for i in range(args.batches):
            lo = (64 * i) % max(1, len(q) - 64)
            t = time.perf_counter()
            g.search(q[lo:lo + 64], 10)
            batch.append(time.perf_counter() - t)
        rows.append({"nprobe": nprobe, "recall": recall,
                     "p50": 1e3 * np.percentile(single, 50),
                     "p99": 1e3 * np.percentile(single, 99),
                     "b50": 1e3 * np.percentile(batch, 50),
                     "b99": 1e3 * np.percentile(batch, 99)})
    print(json.dumps({"rows": rows, "loaded": loaded, "served": proc_status()}))


def run_child(args, mode: str, **extra) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--threads", str(args.threads),
           "--build-threads", str(args.build_threads)]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_gallery"))
    ap.add_argument("--kinds", default="",
                    help="kinds to build, e.g. flat,ivf,ivf-sq8,ivf-sq6 (default: all up to 100k; "
                         "ivf-sq8 and ivf-sq6 above, where flat/ivf hold 4 KB per row)")
    ap.add_argument("--nprobe", default="8,16,32")
    ap.add_argument("--shard", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=500, help="queries for recall@10")
    ap.add_argument("--latency-queries", type=int, default=300)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1,
                    help="faiss OpenMP threads while serving (1: on a shared 2-core machine a "
                         "second spinning thread slowed single queries ~5x)")
    ap.add_argument("--build-threads", type=int, default=2, help="faiss threads while building")
    ap.add_argument("--nlist", type=int, default=0,
                    help="IVF lists (default 0: the gallery's own default, 4 sqrt(n))")
    ap.add_argument("--cleanup", action="store_true", help="delete the shards and galleries")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    for hidden in ("emb", "out", "kind", "queries-file", "exact"):
        ap.add_argument(f"--{hidden}", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "build":
        child_build(args)
        return
    if args.child == "serve":
        args.queries = args.queries_file
        child_serve(args)
        return

    gen = Generator()
    print(f"faiss threads: {args.build_threads} building, {args.threads} serving; queries: {args.queries} for recall, "
          f"{args.latency_queries} single and {args.batches} batches of 64 for latency")
    print("| n | kind | nlist | nprobe | build s | build peak RSS MB | index MB | "
          "serve RSS MB (anon + file) | single p50 / p99 ms | batch-64 p50 / p99 ms | "
          "recall@10 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in map(int, args.sizes.split(",")):
        root = args.workdir / str(n)
        emb = root / "emb"
        t = time.perf_counter()
        make_shards(gen, n, args.shard, emb)
        gen_s = time.perf_counter() - t
        q, _ = gen.draw(10**6, args.queries)  # a stream no shard uses
        t = time.perf_counter()
        old_q = root / "queries.npy"
        if old_q.is_file() and (root / "exact.npy").is_file() and \
                np.array_equal(np.load(old_q), q):
            pass  # the same queries over the same shards: exact top-10 already known
        else:
            exact = exact_top10(emb, q)
            np.save(root / "queries.npy", q)
            np.save(root / "exact.npy", exact)
        exact_s = time.perf_counter() - t
        print(f"<!-- n={n}: shards written/checked in {gen_s:.0f} s, exact top-10 of "
              f"{args.queries} queries in {exact_s:.0f} s -->", flush=True)
        kinds = args.kinds.split(",") if args.kinds else (
            ["flat", "ivf", "ivf-sq8", "ivf-sq6"] if n <= 100_000 else ["ivf-sq8", "ivf-sq6"])
        for kind in kinds:
            out = root / f"gallery-{kind}"
            b = run_child(args, "build", emb=emb, out=out, kind=kind, nlist=args.nlist)
            s = run_child(args, "serve", out=out, queries_file=root / "queries.npy",
                          exact=root / "exact.npy", nprobe=args.nprobe,
                          latency_queries=args.latency_queries, batches=args.batches)
            mb = (out / "index.faiss").stat().st_size / 2**20
            sv = s["served"]
            for r in s["rows"]:
                print(f"| {n} | {kind} | {b['nlist'] or '-'} | {r['nprobe'] or '-'} | "
                      f"{b['build_s']:.0f} | {b['build_hwm_mb']:.0f} | {mb:.0f} | "
                      f"{sv['VmRSS']:.0f} ({sv['RssAnon']:.0f} + {sv['RssFile']:.0f}) | "
                      f"{r['p50']:.2f} / {r['p99']:.2f} | {r['b50']:.1f} / {r['b99']:.1f} | "
                      f"{r['recall']:.3f} |", flush=True)
            print(f"<!-- {kind}: gallery.json {(out / 'gallery.json').stat().st_size / 2**20:.0f}"
                  f" MB; RSS right after load {s['loaded']['VmRSS']:.0f} MB -->", flush=True)
        if args.cleanup:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
