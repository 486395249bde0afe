"""Issue 28: does each stage of the rehearsal resume after ``kill -9``?

For each chosen stage of a finished rehearsal run (``bench_rehearsal.py --run RUN``), this
runs the stage's command again into a fresh copy of its outputs (``RUN/resume/<stage>``),
kills its whole process group with SIGKILL once the stage has written part of its work (or
after ``--kill-after`` seconds), reruns the same command, and checks that the rerun

- finishes (exit 0),
- kept the work done before the kill (the part files present at the kill are still there,
  unchanged, when the stage keeps parts: import's NeRF files, vlm's shards, render's
  finished objects), and
- gives the same result as the uninterrupted run (embeddings, NeRF files and rendered views'
  pixels compared bit for bit on this machine; a model trained in a resumed run is compared within 1e-5).

    python benchmarks/rehearsal_resume.py --run /work/rehearsal-runs/r250 --stages import,vlm
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_rehearsal import stage_commands  # noqa: E402


def _parts(stage: str, out: Path) -> list[Path]:
    """The per-item files a stage writes as it goes (what a resumed run must keep)."""
    if stage == "import":
        return sorted(out.glob("*.safetensors"))
    if stage == "vlm":
        return sorted(out.parent.glob(f".{out.name}.partial/*.safetensors"))
    if stage == "embed":
        return sorted(out.parent.glob(f"{out.name}.parts/*.safetensors"))
    if stage == "build":
        return sorted(out.glob("*/*/nerf_weights.pth"))
    if stage == "render":  # an object is finished once its transforms.json is written
        return sorted(out.glob("objects/*/transforms.json"))
    return []


def _same_nerf_file(a: Path, b: Path) -> bool:
    """Same tensors and header (the files' bytes may order the header's keys differently)."""
    import numpy as np
    from safetensors import safe_open

    with safe_open(str(a), "np") as fa, safe_open(str(b), "np") as fb:
        return (fa.metadata() == fb.metadata() and sorted(fa.keys()) == sorted(fb.keys())
                and all(np.array_equal(fa.get_tensor(k), fb.get_tensor(k)) for k in fa.keys()))


def _same(stage: str, a: Path, b: Path) -> str:
    """'' when the two outputs agree, else what differs."""
    import numpy as np

    if stage == "import":
        fa, fb = sorted(p.name for p in a.glob("*.safetensors")), sorted(
            p.name for p in b.glob("*.safetensors"))
        if fa != fb:
            return f"{len(fa)} vs {len(fb)} NeRF files"
        diff = [n for n in fa if not _same_nerf_file(a / n, b / n)]
        return f"{len(diff)} files differ (e.g. {diff[0]})" if diff else ""
    if stage in ("vlm", "embed"):
        from clip2nerf.utils.embeddings import load_embeddings

        ta, tb = load_embeddings(a), load_embeddings(b)
        if ta.ids != tb.ids:
            return "ids differ"
        d = float(np.abs(ta.vectors - tb.vectors).max()) if len(ta) else 0.0
        return "" if d == 0.0 else f"largest difference {d:.2e}"
    if stage == "render":
        from PIL import Image

        fa = sorted(p.relative_to(a) for p in a.glob("objects/*/views/*.png"))
        fb = sorted(p.relative_to(b) for p in b.glob("objects/*/views/*.png"))
        if fa != fb:
            return f"{len(fa)} vs {len(fb)} rendered views"
        diff = [f for f in fa if not np.array_equal(np.asarray(Image.open(a / f)),
                                                    np.asarray(Image.open(b / f)))]
        return f"{len(diff)} views differ (e.g. {diff[0]})" if diff else ""
    if stage in ("nf2vec", "clip2nerf", "nerf2clip"):
        from safetensors.numpy import load_file

        wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
        d = max(float(np.abs(wa[k] - wb[k]).max()) for k in wa)
        return "" if d <= 1e-5 else f"largest weight difference {d:.2e}"
    return ""


def check_stage(run: Path, stage: str, args, kill_after: float, min_parts: int) -> dict:
    """Kill ``stage`` midway, rerun it, compare with RUN's own output."""
    cmds = stage_commands(args, run)
    cmd, outputs = cmds[stage]
    out = outputs[0]
    scratch = run / "resume" / stage
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    new_out = scratch / out.name
    cmd = [new_out.as_posix() if c == out.as_posix() else c for c in cmd]
    # Inputs stay RUN's own (the NeRFs, embeddings and models of the finished run).
    log = open(scratch / "log.txt", "ab")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    t0 = time.monotonic()
    while proc.poll() is None:
        if (len(_parts(stage, new_out)) >= min_parts if min_parts else
                time.monotonic() - t0 >= kill_after) or time.monotonic() - t0 > 4 * 3600:
            break
        time.sleep(0.2)
    finished_before_kill = proc.poll() is not None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    kept = {p: p.stat().st_mtime_ns for p in _parts(stage, new_out)}
    t1 = time.monotonic()
    rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    rerun_s = time.monotonic() - t1
    lost = [p for p, m in kept.items() if not p.exists() or p.stat().st_mtime_ns != m]
    # vlm: the .partial shards become the final folder at the end (renamed, not rewritten).
    if stage == "vlm":
        final = {new_out / p.name for p in kept}
        lost = [p for p in final if not p.exists()]
    diff = _same(stage, out, new_out) if rc == 0 else "rerun failed"
    return {"stage": stage, "killed_after_s": round(t1 - t0, 1), "parts_at_kill": len(kept),
            "finished_before_kill": finished_before_kill, "rerun_rc": rc,
            "rerun_s": round(rerun_s, 1), "parts_lost": len(lost),
            "same_result": diff == "", "difference": diff}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished bench_rehearsal run")
    ap.add_argument("--stages", default="import,embed,vlm,clip2nerf")
    ap.add_argument("--kill-after", type=float, default=20.0,
                    help="seconds before the kill, for stages without part files")
    ap.add_argument("--min-parts", type=int, default=2,
                    help="kill once this many part files are written (stages with parts)")
    a = ap.parse_args(argv)
    import json

    meta = json.loads((a.run / "rows" / "build.json").read_text())
    tree = json.loads((a.run / "tree" / "rehearsal.json").read_text())
    args = argparse.Namespace(nerfs=Path(tree["nerfs"]), data=Path(tree["data"]),
                              objects=meta["objects"], noise=tree["noise"], nf2vec_epochs=1,
                              map_epochs=2, eval_epochs=1)
    rows = []
    for stage in [s.strip() for s in a.stages.split(",") if s.strip()]:
        parts = a.min_parts if stage in ("import", "vlm", "build", "render") else 0
        r = check_stage(a.run, stage, args, a.kill_after, parts)
        print(json.dumps(r), flush=True)
        rows.append(r)
    print("| stage | killed after s | parts at kill | parts lost | rerun rc | rerun s | same "
          "result |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['killed_after_s']} | {r['parts_at_kill']} | "
              f"{r['parts_lost']} | {r['rerun_rc']} | {r['rerun_s']} | "
              f"{'yes' if r['same_result'] else 'NO: ' + r['difference']} |")
    sys.exit(0 if all(r["rerun_rc"] == 0 and r["same_result"] and not r["parts_lost"]
                      for r in rows) else 1)


if __name__ == "__main__":
    main()
