"""NeRF fitting speed and quality on a synth dataset: s/object, objects/hour, held-out PSNR.

Fits a class-balanced subset of a dataset's objects with ``clip2nerf.nerf.runner.fit_dataset``
(the code behind ``clip2nerf fit``) into a fresh folder and prints one table. PSNR is on
held-out views (never trained on), on the whole image and on object pixels (alpha > 0).

    clip2nerf synth --preset small --out data/small
    python benchmarks/bench_fit.py --data data/small [--per-class 2] [--workers 2] [--steps N]

Record the machine load next to the figures: the table prints the 1-minute load average
before and after the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict

from clip2nerf.data.layouts import open_dataset
from clip2nerf.nerf.fit import FitConfig
from clip2nerf.nerf.runner import fit_dataset
from clip2nerf.utils.device import resolve_device


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="dataset folder (e.g. clip2nerf synth --preset small)")
    ap.add_argument("--per-class", type=int, default=2, help="objects per class (0: all)")
    ap.add_argument("--split", default="all")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="NeRF folder (default: a temporary one)")
    for f in ("steps", "rays_per_step", "n_samples", "grid_resolution"):
        ap.add_argument(f"--{f.replace('_', '-')}", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--depth-cutoff-cells", type=float, default=None,
                    help="FitConfig.depth_cutoff_cells (negative: off, the pre-cutoff behaviour)")
    args = ap.parse_args()

    ds = open_dataset(args.data)
    by_class: dict[str, list[str]] = defaultdict(list)
    for oid in ds.object_ids(args.split):
        by_class[ds.get(oid).class_name].append(oid)
    ids = [o for c in sorted(by_class) for o in
           (by_class[c] if args.per_class <= 0 else by_class[c][: args.per_class])]
    overrides = {k: getattr(args, k) for k in ("steps", "rays_per_step", "n_samples",
                                                "grid_resolution", "lr", "depth_cutoff_cells")
                 if getattr(args, k) is not None}
    cfg = FitConfig(**overrides)
    device = str(resolve_device(args.device))
    load0 = os.getloadavg()[0]
    out = args.out or tempfile.mkdtemp(prefix="bench_fit_")
    t0 = time.perf_counter()
    entries = fit_dataset(ds.root, out, ids, cfg, device=device, workers=args.workers,
                          threads=args.threads, overwrite=True)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    secs = [e["fit_seconds"] for e in entries.values()]
    cpu = [e.get("fit_cpu_seconds", float("nan")) + e.get("eval_cpu_seconds", 0.0)
           for e in entries.values()]
    rows = [
        ("dataset", f"{ds.name} ({len(ids)} objects, {len(by_class)} classes)"),
        ("device", f"{device}, {args.workers} worker(s) x {args.threads} thread(s), "
                   f"{os.cpu_count()} CPUs"),
        ("fit config", f"steps {cfg.steps}, rays/step {cfg.rays_per_step}, lr {cfg.lr}, "
                       f"samples {cfg.n_samples}, grid {cfg.grid_resolution}^3, "
                       f"depth cutoff {cfg.depth_cutoff_cells} cells"),
        ("s/object (median, mean)", f"{statistics.median(secs):.1f}, {statistics.fmean(secs):.1f}"
                                    " (fit incl. setup, excl. held-out eval)"),
        ("CPU s/object (median, mean)",
         f"{statistics.median(cpu):.1f}, {statistics.fmean(cpu):.1f} (process CPU time of fit + "
         "held-out eval: what an idle core would take, roughly)"),
        ("objects/hour (wall)", f"{len(ids) / wall * 3600:.0f}  ({wall:.0f} s wall incl. eval)"),
        ("held-out PSNR whole image", f"{statistics.fmean(e['psnr'] for e in entries.values()):.2f} dB"
                                      f" (min {min(e['psnr'] for e in entries.values()):.2f})"),
        ("held-out PSNR object pixels",
         f"{statistics.fmean(e['psnr_object'] for e in entries.values()):.2f} dB"
         f" (min {min(e['psnr_object'] for e in entries.values()):.2f})"),
        ("load average (1 min) before/after", f"{load0:.1f} / {load1:.1f}"),
        ("NeRFs", out),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    print("\nper class (mean PSNR whole / object, s):")
    for c in sorted(by_class):
        es = [entries[o] for o in ids if o in by_class[c]]
        print(f"  {c:<12} {statistics.fmean(e['psnr'] for e in es):6.2f} "
              f"{statistics.fmean(e['psnr_object'] for e in es):6.2f} "
              f"{statistics.fmean(e['fit_seconds'] for e in es):6.1f}")


if __name__ == "__main__":
    main()
