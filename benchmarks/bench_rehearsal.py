"""Issue 28's rehearsal: the paper's recipe on a paper-shaped nf2vec tree, stage by stage.

One command builds an nf2vec-format tree of N objects from NeRFs fitted here
(``rehearsal_tree.py``: weight-perturbed copies sharing their source's views and grid), then
runs the chain a user with the gmnerf download runs, each stage a subprocess of the public
CLI, and prints one row per stage: wall seconds, CPU seconds (the stage's whole process tree),
peak RSS of the process tree (sum over its live processes, sampled every 0.2 s), bytes written
to disk (the tree's ``write_bytes`` I/O accounting) and the size of what it left::

    build       python benchmarks/rehearsal_tree.py --objects N --out RUN/tree
    import      clip2nerf import nerfs RUN/tree --out W/nerfs
    nf2vec      clip2nerf nf2vec train --nerfs W/nerfs --data RUN/tree --epochs E (our training)
    embed       clip2nerf nf2vec embed --model W/nf2vec --nerfs W/nerfs --data RUN/tree
    vlm         clip2nerf vlm embed-views --data RUN/tree --vlm zeroshot (the default VLM)
    clip2nerf   clip2nerf map train --direction clip2nerf (--map-epochs, lr 1e-3)
    nerf2clip   clip2nerf map train --direction nerf2clip (--map-epochs)
    render      clip2nerf render-views --nerfs W/nerfs --data RUN/tree --out W/rendered at
                eval's settings (64 px, 128 samples, 2 threads): the views eval's "rendered"
                rows need, made as their own stage so that they have their own row (eval
                finds them rendered and skips them)
    eval        clip2nerf eval --workdir W --data RUN/tree (the tree's 80/10/10 splits; test
                evaluated; the 14 mappers at --eval-epochs: no captions, so no multimodal one)
    index       clip2nerf index --embeddings W/emb/nerf.safetensors --out W/gallery
    serve       clip2nerf serve --workdir W, one text query over HTTP, then stopped

W = RUN/work is an eval/serve workdir: the vlm stage writes W/emb/views-gt and the embed stage
W/emb/nerf.safetensors, where ``eval`` finds and reuses them. A finished stage's row is kept in
RUN/rows/<stage>.json and not rerun, so an interrupted rehearsal continues where it stopped
(each command resumes its own work, see ``rehearsal_resume.py``). Rows of several runs:
``--table RUN1 RUN2 ...`` prints them side by side with the growth from the first to the last
(time ratio / objects ratio: 1.00 = linear).

    nice -n 10 python benchmarks/bench_rehearsal.py --nerfs W/nerfs --data W/data \\
        --objects 1000 --run /work/rehearsal-runs/r1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAGES = ("build", "import", "nf2vec", "embed", "vlm", "clip2nerf", "nerf2clip", "render",
          "eval", "index", "serve")


# -- measuring a process tree --------------------------------------------------------------

def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in parents.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def _write_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Samples the peak summed RSS and the written bytes of ``pid``'s process tree."""

    def __init__(self, pid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0
        self.written: dict[int, int] = {}  # pid -> last write_bytes seen (exited ones kept)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids = [self.pid, *_children(self.pid)]
            self.peak = max(self.peak, sum(_rss_bytes(p) for p in pids))
            for p in pids:
                w = _write_bytes(p)
                if w:
                    self.written[p] = max(self.written.get(p, 0), w)
            self.stop.wait(self.every)


def _du(paths: list[Path]) -> int:
    """Bytes of the files under ``paths`` (hard links counted once)."""
    seen, total = set(), 0
    for root in paths:
        if not root.exists():
            continue
        walk = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for p in walk:
            st = p.lstat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def measure(cmd: list[str], log: Path, env: dict[str, str], outputs: list[Path],
            during=None) -> dict:
    """Run ``cmd`` (stdout/stderr to ``log``); wall, CPU, peak tree RSS, bytes written."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "ab") as f:
        f.write(f"\n$ {' '.join(cmd)}\n".encode())
        f.flush()
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            if during is not None:
                during(proc)
            rc = proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            sampler.stop.set()
            sampler.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    written = max(sum(sampler.written.values()), (after.ru_oublock - before.ru_oublock) * 512)
    return {"rc": rc, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": sampler.peak / 2**20,
            "written_mb": written / 2**20, "output_mb": _du(outputs) / 2**20}


# -- the stages ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_smoke(port: int, result: dict):
    """Wait for the service, ask one text query, stop it (SIGINT)."""
    def during(proc):
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(f"{url}/api/health", timeout=5).read()
                break
            except OSError:
                time.sleep(1)
        if proc.poll() is None:
            t = time.perf_counter()
            body = urllib.request.urlopen(f"{url}/api/search?text=a%20red%20chair&k=5",
                                          timeout=600).read()
            result["query_ms"] = (time.perf_counter() - t) * 1000
            result["answer"] = json.loads(body)
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    return during


def stage_commands(args, run: Path) -> dict[str, tuple[list[str], list[Path]]]:
    """Each stage's command and the paths it writes."""
    tree, w = run / "tree", run / "work"
    c2 = ["clip2nerf"]
    dev = ["--device", "cpu"]
    return {
        "build": ([sys.executable, str(HERE / "rehearsal_tree.py"), "--nerfs", str(args.nerfs),
                   "--data", str(args.data), "--objects", str(args.objects), "--out", str(tree),
                   "--noise", str(args.noise)], [tree]),
        "import": ([*c2, "import", "nerfs", str(tree), "--out", str(w / "nerfs"), "--quiet"],
                   [w / "nerfs"]),
        "nf2vec": ([*c2, "nf2vec", "train", "--nerfs", str(w / "nerfs"), "--data", str(tree),
                    "--out", str(w / "nf2vec"), "--epochs", str(args.nf2vec_epochs), *dev],
                   [w / "nf2vec"]),
        "embed": ([*c2, "nf2vec", "embed", "--model", str(w / "nf2vec"), "--nerfs",
                   str(w / "nerfs"), "--data", str(tree), "--out",
                   str(w / "emb" / "nerf.safetensors"), *dev], [w / "emb" / "nerf.safetensors"]),
        "vlm": ([*c2, "vlm", "embed-views", "--data", str(tree), "--out",
                 str(w / "emb" / "views-gt"), "--vlm", "zeroshot", "--quiet", *dev],
                [w / "emb" / "views-gt"]),
        "clip2nerf": ([*c2, "map", "train", "--nerf-emb", str(w / "emb" / "nerf.safetensors"),
                       "--view-emb", str(w / "emb" / "views-gt"), "--direction", "clip2nerf",
                       "--out", str(w / "maps" / "clip2nerf"), "--epochs", str(args.map_epochs),
                       "--lr", "1e-3", *dev], [w / "maps" / "clip2nerf"]),
        "nerf2clip": ([*c2, "map", "train", "--nerf-emb", str(w / "emb" / "nerf.safetensors"),
                       "--view-emb", str(w / "emb" / "views-gt"), "--direction", "nerf2clip",
                       "--out", str(w / "maps" / "nerf2clip"), "--epochs", str(args.map_epochs),
                       *dev], [w / "maps" / "nerf2clip"]),
        "render": ([*c2, "render-views", "--nerfs", str(w / "nerfs"), "--data", str(tree),
                    "--out", str(w / "rendered"), "--res", "64", "--samples", "128",
                    "--threads", "2", "--quiet", *dev], [w / "rendered"]),
        "eval": ([*c2, "eval", "--workdir", str(w), "--data", str(tree), "--nerfs",
                  str(w / "nerfs"), "--nf2vec", str(w / "nf2vec"), "--vlm", "zeroshot",
                  "--clip2nerf-epochs", str(args.eval_epochs), "--clip2nerf-lr", "1e-3",
                  "--nerf2clip-epochs", str(args.eval_epochs), "--timing-objects", "1",
                  "--timing-repeats", "1", "--quiet", *dev],
                 [w / "report", w / "mappers", w / "emb" / "views-rendered",
                  w / "emb" / "captions.safetensors"]),
        "index": ([*c2, "index", "--embeddings", str(w / "emb" / "nerf.safetensors"), "--out",
                   str(w / "gallery"), "--overwrite"], [w / "gallery"]),
        "serve": ([*c2, "serve", "--workdir", str(w), "--port", "PORT", *dev], []),
    }


def _catalogue_json(w: Path) -> None:
    """The served catalogue's models: the mappers of the map stages, the default VLM."""
    cat = w / "catalogue"
    cat.mkdir(parents=True, exist_ok=True)
    (cat / "catalogue.json").write_text(json.dumps({
        "format": "clip2nerf-catalogue", "version": 1, "nf2vec": "nf2vec",
        "clip2nerf": "maps/clip2nerf", "nerf2clip": "maps/nerf2clip", "vlm": "zeroshot",
        "classes": []}))


def run_rehearsal(args) -> list[dict]:
    run = args.run
    (run / "rows").mkdir(parents=True, exist_ok=True)
    (run / "logs").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmds = stage_commands(args, run)
    rows = []
    for stage in args.stages:
        row_file = run / "rows" / f"{stage}.json"
        if row_file.is_file():
            rows.append(json.loads(row_file.read_text()))
            print(f"[{stage}] done before: {rows[-1]['wall_s']:.0f} s", flush=True)
            continue
        cmd, outputs = cmds[stage]
        during, extra = None, {}
        if stage == "serve":
            _catalogue_json(run / "work")
            port = _free_port()
            cmd = [str(port) if c == "PORT" else c for c in cmd]
            during = _serve_smoke(port, extra)
        print(f"[{stage}] {' '.join(cmd)}", flush=True)
        row = measure(cmd, run / "logs" / f"{stage}.log", env, outputs, during)
        row.update({"stage": stage, "objects": args.objects, "finished": time.time(),
                    "load_avg": os.getloadavg(), **extra})
        if stage == "serve":
            ok = row.pop("answer", None)
            row["results"] = len(ok.get("results", [])) if isinstance(ok, dict) else 0
            row["rc"] = 0 if row["results"] else 1
        if row["rc"] != 0:
            print(f"[{stage}] failed (rc {row['rc']}), see {run / 'logs' / (stage + '.log')}",
                  flush=True)
            rows.append(row)
            break
        row_file.write_text(json.dumps(row, indent=1))
        rows.append(row)
        print(f"[{stage}] {row['wall_s']:.1f} s wall, {row['cpu_s']:.1f} s CPU, peak RSS "
              f"{row['peak_rss_mb']:.0f} MB, written {row['written_mb']:.0f} MB, output "
              f"{row['output_mb']:.0f} MB", flush=True)
    if args.cleanup_rendered and (run / "work" / "rendered").is_dir():
        shutil.rmtree(run / "work" / "rendered")
    return rows


# -- tables ----------------------------------------------------------------------------------

def _rows(run: Path) -> dict[str, dict]:
    out = {}
    for s in STAGES:
        p = run / "rows" / f"{s}.json"
        if p.is_file():
            out[s] = json.loads(p.read_text())
    return out


def table(runs: list[Path]) -> str:
    """Markdown: per stage and run, wall / CPU s, peak RSS MB, written MB; growth first->last."""
    data = [(_rows(r)) for r in runs]
    sizes = [next(iter(d.values()))["objects"] if d else 0 for d in data]
    head = ["stage"]
    for n in sizes:
        head += [f"{n}: wall s", f"{n}: CPU s", f"{n}: peak RSS MB", f"{n}: written MB"]
    if len(runs) > 1:
        head += [f"CPU growth {sizes[0]}->{sizes[-1]} (1.00 = linear)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in STAGES:
        cells = [s]
        for d in data:
            r = d.get(s)
            cells += ([f"{r['wall_s']:.0f}", f"{r['cpu_s']:.0f}", f"{r['peak_rss_mb']:.0f}",
                       f"{r['written_mb']:.0f}"] if r else ["-"] * 4)
        if len(runs) > 1:
            a, b = data[0].get(s), data[-1].get(s)
            cells.append(f"{(b['cpu_s'] / a['cpu_s']) / (sizes[-1] / sizes[0]):.2f}"
                         if a and b and a["cpu_s"] > 0 else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nerfs", type=Path, help="fitted NeRF files (the copies' sources)")
    ap.add_argument("--data", type=Path, help="the dataset they were fitted on (36 views)")
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--run", type=Path, help="run folder (tree, workdir, logs, rows)")
    ap.add_argument("--stages", default=",".join(STAGES),
                    help=f"comma-separated subset of {','.join(STAGES)}")
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--nf2vec-epochs", type=int, default=1)
    ap.add_argument("--map-epochs", type=int, default=2)
    ap.add_argument("--eval-epochs", type=int, default=1)
    ap.add_argument("--cleanup-rendered", action="store_true",
                    help="delete W/rendered at the end (its PNGs)")
    ap.add_argument("--table", type=Path, nargs="+", help="print the table of these run folders")
    args = ap.parse_args(argv)
    if args.table:
        print(table(args.table))
        return
    if not (args.nerfs and args.data and args.run):
        ap.error("--nerfs, --data and --run are needed to run a rehearsal")
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in args.stages if s not in STAGES]
    if bad:
        ap.error(f"unknown stage(s) {bad}")
    rows = run_rehearsal(args)
    print(table([args.run]))
    sys.exit(0 if rows and all(r["rc"] == 0 for r in rows) else 1)


if __name__ == "__main__":
    main()
