"""Stages quiet and beside a CPU hog: does anything stall on a busy machine?

Runs representative stages, each in a fresh process, once with the machine as it is ("quiet")
and once beside a CPU hog (a bounded busy loop in another process, optionally pinned to one
CPU), and prints both times and their ratio. Goal (issue 20): on 2 cores no stage takes more
than 2.5x its quiet time beside the hog (the hog takes one core, so a stage using both cores
has a floor of about 2x).

Stages: ``fit`` (a few tiny objects, 2 worker processes x 1 thread, as ``clip2nerf fit
--workers 2``), ``render`` (render-views of a few objects, as the eval stage), ``mapper``
(clip2nerf mapper training on synthetic linked data), ``nf2vec`` (nf2vec training steps, the
cpu preset). ``--old`` adds rows with the OpenMP policy clip2nerf had before issue 20 (libgomp's
default spin-then-sleep waiting, torch loaded before clip2nerf could set anything) and 2
threads, which is how the demo used to render.

    python benchmarks/bench_busy.py [--old] [--repeats 2] [--pin-hog 0] [--workdir W]

Each time is the median over ``--repeats`` runs; quiet and hog runs alternate, so drift in the
background load hits both. On a shared machine "quiet" is not quiet: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOG = ("import sys, time\n"
       "end = time.monotonic() + float(sys.argv[1])\n"
       "x = 0\n"
       "while time.monotonic() < end:\n"
       "    x += 1\n")

ROWS_NEW = [("fit", 1, "passive"), ("render", 1, "passive"), ("render", 2, "passive"),
            ("mapper", 1, "passive"), ("nf2vec", 2, "passive")]
ROWS_OLD = [("render", 2, "default"), ("nf2vec", 2, "default")]


# ------------------------------------------------------------------------------- child side

def _child(args: argparse.Namespace) -> None:
    if args.policy == "default":
        # The pre-issue-20 state: torch (and its libgomp) loaded before clip2nerf's import
        # could choose a wait policy.
        os.environ.pop("OMP_WAIT_POLICY", None)
        import torch  # noqa: F401
    from clip2nerf.utils.threads import set_threads

    set_threads(args.threads)
    w = Path(args.workdir)
    ids = json.loads((w / "ids.json").read_text())[: args.objects]
    fn = {"fit": _fit, "render": _render, "mapper": _mapper, "nf2vec": _nf2vec}[args.child]
    prepared = fn(w, ids, args)
    t0, c0 = time.perf_counter(), _cpu()
    prepared()
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    print(json.dumps({"seconds": wall, "cpu_seconds": cpu}))


def _cpu() -> float:
    """CPU seconds of this process and its finished children (fit's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _fit(w: Path, ids: list[str], args):
    from clip2nerf.nerf.fit import FitConfig
    from clip2nerf.nerf.runner import fit_dataset

    out = tempfile.mkdtemp(prefix="fit_", dir=w)
    return lambda: fit_dataset(w / "data", out, ids, FitConfig(steps=args.fit_steps),
                               workers=2, threads=1, overwrite=True)


def _render(w: Path, ids: list[str], args):
    from clip2nerf.nerf.render_dataset import render_dataset

    out = tempfile.mkdtemp(prefix="render_", dir=w)
    return lambda: render_dataset(w / "nerfs", w / "data", out, ids=ids, progress=False)


def _mapper(w: Path, ids: list[str], args):
    from clip2nerf.mapping import MapperConfig, TrainConfig, train_mapper

    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "mapping"))
    from linked_tables import linked_tables, split_ids  # the tests' synthetic data

    nerf, views, _ = linked_tables(per_class=8, n_views=12, vlm_dim=384, seed=0)
    train, val = split_ids(nerf.ids, 0.2, seed=0)
    cfg = MapperConfig("clip2nerf", views.space, views.dim, nerf.space,
                       train=TrainConfig.paper("clip2nerf", epochs=args.mapper_epochs, lr=1e-3))
    return lambda: train_mapper(cfg, nerf, views, train, val, progress=False,
                                cpu_threads=args.threads)


def _nf2vec(w: Path, ids: list[str], args):
    import dataclasses

    from clip2nerf.nf2vec import load_nerf_set, load_preset, train_nf2vec

    model_cfg, train_cfg = load_preset("cpu")
    train_cfg = dataclasses.replace(train_cfg, epochs=args.nf2vec_epochs)
    nerfs = load_nerf_set(w / "nerfs", model_cfg.nerf)
    rows = [i % len(nerfs) for i in range(2 * train_cfg.batch_size)]
    nerfs = nerfs.select(rows)
    nerfs.splits = ["train"] * len(rows)
    nerfs.ids = [f"{i}-{j}" for j, i in enumerate(nerfs.ids)]
    out = tempfile.mkdtemp(prefix="nf2vec_", dir=w)
    return lambda: train_nf2vec(nerfs, out, model_cfg, train_cfg, progress=False,
                                log=lambda s: None)


# ------------------------------------------------------------------------------ parent side

def _setup(w: Path, args) -> None:
    """A tiny dataset and NeRFs for the render / nf2vec stages, cached in ``w``."""
    if (w / "ids.json").is_file():
        return
    from clip2nerf.data.synth.writer import SynthConfig, generate_dataset
    from clip2nerf.nerf.fit import FitConfig
    from clip2nerf.nerf.runner import fit_dataset

    print(f"setup: synthesising and fitting {args.objects} objects in {w} ...", flush=True)
    n = max(args.objects, 2)
    generate_dataset(w / "data", SynthConfig(classes=("airplane", "chair", "car"),
                                             per_class=-(-n // 3), views=12, res=64, seed=0),
                     progress=False)
    from clip2nerf.data.layouts import open_dataset

    ids = open_dataset(w / "data").object_ids()[:n]
    fit_dataset(w / "data", w / "nerfs", ids, FitConfig(steps=args.fit_steps), workers=2)
    (w / "ids.json").write_text(json.dumps(ids))


def _run_child(stage: str, threads: int, policy: str, args, w: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", stage, "--threads", str(threads), "--policy",
           policy, "--workdir", str(w), "--objects", str(args.objects),
           "--fit-steps", str(args.fit_steps), "--mapper-epochs", str(args.mapper_epochs),
           "--nf2vec-epochs", str(args.nf2vec_epochs)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{stage} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class Hog:
    """A bounded busy loop in another process (killed on exit; ends by itself anyway)."""

    def __init__(self, seconds: float, cpu: int | None):
        self.seconds, self.cpu = seconds, cpu

    def __enter__(self) -> Hog:
        self.proc = subprocess.Popen([sys.executable, "-c", HOG, str(self.seconds)])
        if self.cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(self.proc.pid, {self.cpu})
        time.sleep(0.2)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=None, help="cache folder (default: a temporary one)")
    ap.add_argument("--objects", type=int, default=3, help="objects fitted / rendered")
    ap.add_argument("--fit-steps", type=int, default=150)
    ap.add_argument("--mapper-epochs", type=int, default=10)
    ap.add_argument("--nf2vec-epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--stages", default="fit,render,mapper,nf2vec")
    ap.add_argument("--old", action="store_true",
                    help="also the pre-issue-20 policy (default libgomp waiting, 2 threads)")
    ap.add_argument("--pin-hog", type=int, default=None, metavar="CPU",
                    help="pin the hog to this CPU (default: let the scheduler place it)")
    ap.add_argument("--hog-seconds", type=float, default=600.0,
                    help="upper bound on each hog's life")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--policy", default="passive", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return

    import clip2nerf  # noqa: F401  (sets the wait policy for this process and its children)

    w = Path(args.workdir or tempfile.mkdtemp(prefix="bench_busy_"))
    w.mkdir(parents=True, exist_ok=True)
    _setup(w, args)
    stages = set(args.stages.split(","))
    rows = [r for r in ROWS_NEW + (ROWS_OLD if args.old else []) if r[0] in stages]
    load0 = os.getloadavg()[0]
    where = "unpinned" if args.pin_hog is None else f"pinned to CPU {args.pin_hog}"
    print(f"| stage | threads | OpenMP wait | quiet s | beside hog s | hog / quiet | "
          f"CPU s quiet / hog |   ({os.cpu_count()} CPUs, hog {where}, load {load0:.1f})")
    print("|---|---|---|---|---|---|---|", flush=True)
    for stage, threads, policy in rows:
        quiet, hog = [], []
        for _ in range(args.repeats):
            quiet.append(_run_child(stage, threads, policy, args, w))
            with Hog(args.hog_seconds, args.pin_hog):
                hog.append(_run_child(stage, threads, policy, args, w))
        q = statistics.median(r["seconds"] for r in quiet)
        h = statistics.median(r["seconds"] for r in hog)
        qc = statistics.median(r["cpu_seconds"] for r in quiet)
        hc = statistics.median(r["cpu_seconds"] for r in hog)
        label = "2 workers x 1" if stage == "fit" else str(threads)
        print(f"| {stage} | {label} | {policy} | {q:.2f} | {h:.2f} | {h / q:.2f}x | "
              f"{qc:.1f} / {hc:.1f} |", flush=True)
    print(f"load average (1 min) before {load0:.1f}, after {os.getloadavg()[0]:.1f}; the "
          "machine may be shared: compare ratios, not seconds")


if __name__ == "__main__":
    main()
