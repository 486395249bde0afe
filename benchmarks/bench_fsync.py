"""Cost of syncing an ``atomic_dir`` folder (files + folders fsynced before the rename).

Writes a folder holding one file of each size (as ``Gallery.save`` writes ``index.faiss``,
which faiss does not sync) through ``clip2nerf.utils.io.atomic_dir``, with the sync and with
it switched off, alternating, and prints the median seconds of each and their ratio.

    python benchmarks/bench_fsync.py --sizes-mb 1,100,1000 --dir /work/runs/bench_fsync
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

from clip2nerf.utils import io


def write_once(folder: Path, data: bytes, sync: bool) -> float:
    real = io._fsync_tree
    if not sync:
        io._fsync_tree = lambda _folder: None
    try:
        t = time.perf_counter()
        with io.atomic_dir(folder, overwrite=True) as tmp:
            (tmp / "index.faiss").write_bytes(data)
            (tmp / "gallery.json").write_text("{}")
        return time.perf_counter() - t
    finally:
        io._fsync_tree = real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes-mb", default="1,100,1000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench_fsync"))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print("| file MB | without sync s | with sync s | ratio |")
    print("|---|---|---|---|")
    for mb in map(int, args.sizes_mb.split(",")):
        data = bytes(range(256)) * (mb * 4096)
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.reps):
            for sync in (False, True):
                times[sync].append(write_once(args.dir / f"g{mb}", data, sync))
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(f"| {mb} | {off:.3f} | {on:.3f} | {on / off:.2f} |", flush=True)
        shutil.rmtree(args.dir / f"g{mb}", ignore_errors=True)
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
