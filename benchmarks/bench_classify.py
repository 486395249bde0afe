"""Zero-shot classification speed from NeRF files on disk: nerf2clip vs the VLM baselines.

On a demo (or ``clip2nerf eval``) workdir: times, in one run, the paper's Table 1 paths per
NeRF -- the VLM baseline (render 1 or all N views of the NeRF, VLM-encode them, nearest
prompt) and nerf2clip from its file (``clip2nerf classify`` on one file, reading included) --
and the batched throughput of ``clip2nerf classify`` on a folder of ``--files`` NeRF files
(copies of the workdir's NeRFs written to a temporary folder first, so the OS file cache is
warm): NeRFs/s end to end. Prints one table with the speedups over both baselines.

    python benchmarks/bench_classify.py --workdir W [--files 10000] [--threads 1]

Goal (issue 20): from files, >= 20x faster per NeRF than the 1-view baseline and >= 500x
than N views. On a shared machine compare the ratios (measured in the same run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True, type=Path,
                    help="demo / eval workdir (data, nerfs, nf2vec, vlm, mappers)")
    ap.add_argument("--mapper", default=None,
                    help="nerf2clip folder [default: WORKDIR/mappers/nerf2clip-gt-N]")
    ap.add_argument("--files", type=int, default=10000, help="NeRF files in the batched folder")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--read-workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0 = all cores)")
    ap.add_argument("--timing-objects", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--samples", type=int, default=128, help="render samples (baselines)")
    args = ap.parse_args()

    from clip2nerf.apps import ZeroShotClassifier, load_mapper
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.evaluation.experiments import time_file_classification
    from clip2nerf.index import classify_1nn
    from clip2nerf.nerf.io import load_nerf
    from clip2nerf.nerf.render_dataset import render_object_views
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.nf2vec.nerfs import find_nerf_files
    from clip2nerf.utils.cpu_linear import onednn_disabled, onednn_linear_available
    from clip2nerf.utils.embeddings import l2_normalize
    from clip2nerf.utils.threads import set_threads
    from clip2nerf.vlm import load_vlm
    from clip2nerf.workdir import Workdir, nerf2clip_spec

    threads = set_threads(args.threads)
    w = Workdir(args.workdir)
    ds = open_dataset(w.data)
    files = find_nerf_files(w.nerfs)
    n_views = ds.get(ds.object_ids()[0]).n_views
    nf2vec = Nf2vec.from_pretrained(w.nf2vec, "cpu")
    vlm = load_vlm(str(w.vlm), device="cpu")
    mapper = load_mapper(args.mapper or w.mapper(nerf2clip_spec("gt", n_views)), "nerf2clip",
                         vlm, nf2vec)
    clf = ZeroShotClassifier(nf2vec, mapper, vlm, ds.classes, device="cpu",
                             batch_size=args.batch_size, read_workers=args.read_workers)
    timed = files[: args.timing_objects]
    load0 = os.getloadavg()[0]

    def timed_ms(fn, repeats: int) -> tuple[float, float]:
        """Median wall and process-CPU milliseconds of ``fn()`` after a warm-up call."""
        fn()
        walls, cpus = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        return 1000 * statistics.median(walls), 1000 * statistics.median(cpus)

    def mean_over_files(make, repeats: int) -> tuple[float, float]:
        per = [timed_ms(make(f), repeats) for f in timed]
        return (statistics.mean(p[0] for p in per), statistics.mean(p[1] for p in per))

    def baseline(n: int):
        def make(f):
            nf = load_nerf(f)
            rec = ds.get(nf.object_id)
            poses = rec.poses()[:n]

            def run():
                views = render_object_views(nf, poses, rec.intrinsics, args.samples, "cpu")
                emb = l2_normalize(vlm.embed_images(views).mean(axis=0, keepdims=True))
                return classify_1nn(emb, clf.prompts, clf.classes)
            return run
        return make

    b1 = mean_over_files(baseline(1), args.repeats)
    bn = mean_over_files(baseline(n_views), max(1, args.repeats // 2))
    single = mean_over_files(lambda f: (lambda: clf.classify_files([f])), args.repeats)
    t0 = time.perf_counter()
    res = time_file_classification(clf, timed, files, args.files, 1)
    wall = time.perf_counter() - t0
    batched = (res["batched_ms"], 1000 * res["cpu_seconds"] / res["files"])
    with onednn_disabled():  # the same path with torch's addmm (MKL) in the nf2vec encoder
        plain = time_file_classification(clf, timed, files, args.files, 1)
    batched_addmm = (plain["batched_ms"], 1000 * plain["cpu_seconds"] / plain["files"])
    rows = [(f"VLM baseline, 1 view (render + {vlm.name.split('@')[0]} + NN)", b1),
            (f"VLM baseline, N = {n_views} views", bn),
            ("nerf2clip from its file (clip2nerf classify FILE)", single),
            (f"nerf2clip batched: folder of {res['files']} files (clip2nerf classify DIR)",
             batched),
            (f"the same, encoder layers through torch's addmm instead of oneDNN"
             f"{'' if onednn_linear_available() else ' (oneDNN unavailable: both addmm)'}",
             batched_addmm)]
    print(f"NeRFs: {w.nerfs} ({len(files)} files, copied to {res['files']}); "
          f"{threads} torch thread(s), batch {args.batch_size}, {args.read_workers} read "
          f"threads; load average {load0:.1f} -> {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs. Wall = median elapsed; CPU = process CPU time (all "
          "threads), which a shared machine disturbs far less: compare ratios.")
    print("| path | wall ms / NeRF | NeRFs/s (wall) | vs 1 view | vs N views | "
          "CPU ms / NeRF | vs 1 view (CPU) | vs N views (CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (ms, cpu) in rows:
        print(f"| {name} | {ms:.3f} | {1000 / ms:.0f} | {b1[0] / ms:.1f}x | {bn[0] / ms:.1f}x | "
              f"{cpu:.3f} | {b1[1] / cpu:.1f}x | {bn[1] / cpu:.1f}x |")
    print(f"(batched folder: {res['seconds']:.2f} s for {res['files']} files; the whole "
          f"file-timing step took {wall:.0f} s with copying)")


if __name__ == "__main__":
    main()
