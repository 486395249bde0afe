"""benchmarks/bench_rehearsal.py end to end on the tiny world's NeRFs (tests/apps): every stage of the
paper's recipe runs through the CLI on an nf2vec-format tree and gets its row; a rerun keeps
the finished rows; the resume check kills a stage with SIGKILL and its rerun agrees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1800)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~4 min on the shared 2-core machine
def test_rehearsal_runs_every_stage_and_resumes(world, tmp_path):
    run = tmp_path / "run"
    args = [str(BENCH / "bench_rehearsal.py"), "--nerfs", str(world["nerfs"]), "--data",
            str(world["data"]), "--objects", "60", "--run", str(run), "--map-epochs", "1"]
    done = _run(args, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stages = ["build", "import", "nf2vec", "embed", "vlm", "clip2nerf", "nerf2clip", "render",
              "eval", "index", "serve"]
    rows = {s: json.loads((run / "rows" / f"{s}.json").read_text()) for s in stages}
    for s, r in rows.items():
        assert r["rc"] == 0 and r["wall_s"] > 0 and r["peak_rss_mb"] > 0, s
    assert rows["serve"]["results"] > 0  # the smoke query found NeRFs
    tree = json.loads((run / "tree" / "rehearsal.json").read_text())
    assert tree["objects"] == 60 and tree["views_per_object"] > 0
    assert sum(tree["split_sizes"].values()) == 60
    report = (run / "work" / "report" / "report.md").read_text()
    assert "## Table 1" in report and "Not measured: the dataset's objects have no captions" \
        in report
    # A rerun keeps every finished stage's row and runs nothing.
    again = _run(args, tmp_path)
    assert again.returncode == 0 and again.stdout.count("done before") == len(stages)
    # kill -9 midway, rerun, same result
    res = _run([str(BENCH / "rehearsal_resume.py"), "--run", str(run), "--stages",
                "import,vlm", "--min-parts", "2"], tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
