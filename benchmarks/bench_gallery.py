"""Gallery search cost: exact (IndexFlatIP) vs IVF, in memory vs memory-mapped from disk.

Clustered random 1024-d vectors (the size of nf2vec embeddings, 100 clusters); queries are noisy gallery rows that
exclude their own id (the paper's protocol). Prints ms/query (median of repeats), index MB,
the overlap of IVF top-10 with the exact top-10, and the resident-memory growth of loading
the saved index normally vs with ``mmap=True`` (faiss ``IO_FLAG_MMAP``: pages are read on
demand, so a gallery larger than RAM can still be searched, at disk speed).

    python benchmarks/bench_gallery.py [--sizes 10000,50000] [--queries 200]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
from pathlib import Path

import numpy as np

from clip2nerf.index import Gallery, GalleryConfig, ms_per_item


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--nprobe", type=int, default=8)
    args = ap.parse_args()
    print("| n | index | ms/query | MB | top-10 overlap with exact | load RSS +MB |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n in map(int, args.sizes.split(",")):
        # Clustered like real embeddings (IVF relies on that), not uniform noise.
        centres = rng.normal(size=(100, args.dim)).astype(np.float32)
        vec = centres[rng.integers(0, 100, n)] + rng.normal(size=(n, args.dim)).astype(np.float32)
        ids = [f"o{i}" for i in range(n)]
        rows = rng.choice(n, args.queries, replace=False)
        q = vec[rows] + 0.5 * rng.normal(size=(args.queries, args.dim)).astype(np.float32)
        excl = [ids[r] for r in rows]
        exact_ids = None
        for kind in ("flat", "ivf"):
            g = Gallery.from_vectors(vec, ids, [""] * n, "nf2vec:bench",
                                     GalleryConfig(kind, nprobe=args.nprobe))
            ms = ms_per_item(lambda g=g, q=q, excl=excl: g.search(q, 10, exclude_ids=excl),
                             args.queries,
                             repeats=3)
            got, _ = g.search(q, 10, exclude_ids=excl)
            if exact_ids is None:
                exact_ids = got
            overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact_ids,
                                                                         strict=True)])
            with tempfile.TemporaryDirectory() as tmp:
                g.save(Path(tmp) / "g")
                mb = g.nbytes / 2**20
                del g
                gc.collect()
                loads = []
                for mmap in (False, True):
                    before = rss_mb()
                    back = Gallery.load(Path(tmp) / "g", mmap=mmap)
                    loads.append(rss_mb() - before)
                    del back
                    gc.collect()
            label = kind if kind == "flat" else f"ivf nprobe={args.nprobe}"
            print(f"| {n} | {label} | {ms:.3f} | {mb:.0f} | {overlap:.2f} | "
                  f"{loads[0]:.0f} read / {loads[1]:.0f} mmap |", flush=True)


if __name__ == "__main__":
    main()
