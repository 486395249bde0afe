"""The README's demo beside a CPU hog: its stage table when the machine is doing other work.

Starts a bounded busy loop on one core (``bench_busy.Hog``), runs ``clip2nerf demo`` in a
fresh workdir in its own process, and prints the demo's stage table and wall time. Issue 20's
goal: beside the
hog, no stage takes more than 2.5x its quiet time on 2 cores (the hog takes one core, so a stage
using both has a floor of about 2x); compare with the same command's quiet run
(``--no-hog``), measured on the same machine, ideally back to back.

    python benchmarks/bench_demo_busy.py --workdir /tmp/demo-busy [--preset small] [--no-hog]
        [--pin-hog 0]

The workdir must not exist (the demo would reuse its cached stages); about 20 minutes on
2 cores for ``small`` beside the hog, 10 quiet.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_busy import Hog  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True, type=Path, help="a new folder for the demo")
    ap.add_argument("--preset", default="small", choices=["tiny", "small", "bench"])
    ap.add_argument("--no-hog", action="store_true", help="the quiet run, for comparison")
    ap.add_argument("--pin-hog", type=int, default=None, metavar="CPU",
                    help="pin the hog to this CPU (default: let the scheduler place it)")
    ap.add_argument("--hog-seconds", type=float, default=7200.0,
                    help="upper bound on the hog's life")
    args = ap.parse_args()
    if args.workdir.exists():
        raise SystemExit(f"{args.workdir} exists: give a new folder (a demo rerun is cached)")
    exe = shutil.which("clip2nerf")
    if exe is None:
        raise SystemExit("`clip2nerf` is not on PATH: pip install -e . first")
    cmd = [exe, "demo", "--workdir", str(args.workdir), "--preset", args.preset]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    if args.no_hog:
        out = subprocess.run(cmd, capture_output=True, text=True)
    else:
        with Hog(args.hog_seconds, args.pin_hog):
            out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"the demo failed (exit {out.returncode})")
    log = out.stderr + out.stdout
    table = log[log.index("Stage timings:"):] if "Stage timings:" in log else log[-2000:]
    table = table.split("\nWritten under")[0]
    pin = "unpinned" if args.pin_hog is None else f"pinned to CPU {args.pin_hog}"
    where = "quiet" if args.no_hog else f"beside a one-core busy loop ({pin})"
    print(f"clip2nerf demo --preset {args.preset}, {where}; {os.cpu_count()} CPUs, load average "
          f"{load0:.1f} before, {os.getloadavg()[0]:.1f} after; wall {wall / 60:.1f} min")
    print(table.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
