"""The one stage cache: cached, resumable, timed stages of the demo and of ``clip2nerf eval``.

A stage is cached in one of two ways:

- by a **marker** (the demo's stages): it is finished when ``<workdir>/.stages/<name>.json``
  exists and records the same parameters. The marker is written atomically only after the
  stage's function returned, so a killed run redoes the interrupted stage (whose own steps
  resume from their per-item files) and nothing before it. Within ``run_all`` it also records
  a digest of the markers of the stages before it, so a stage that reruns (new parameters, a
  deleted marker) reruns everything after it too: nothing downstream is kept from older
  inputs.
- by **its outputs** (the evaluation's steps, ``Stage.done``): it is finished when ``done()``
  says its files in the workdir are there and were made for the current inputs (space, ids,
  config); no marker is written, so none can go stale.

Both are announced, timed and listed in ``timing_table`` alike.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clip2nerf.utils.io import atomic_write_json
from clip2nerf.workdir import Workdir


@dataclass
class Stage:
    """One step of a pipeline.

    Attributes:
        name: short identifier, also the marker file name.
        description: what the stage does, shown before it runs.
        run: the work; returns an optional JSON-serialisable summary kept in the marker.
        params: what the result depends on; a different value invalidates the marker.
        estimate_s: rough duration on 2 CPU cores, announced up front.
        done: when given, the stage is cached by its outputs: it is skipped when ``done()``
            is true, and no marker is written (``params`` are then unused).
    """

    name: str
    description: str
    run: Callable[[], Any]
    params: dict[str, Any] = field(default_factory=dict)
    estimate_s: float = 0.0
    done: Callable[[], bool] | None = None


@dataclass
class StageResult:
    name: str
    seconds: float
    cached: bool
    summary: Any = None


class StageRunner:
    """Runs stages in order, skipping those whose marker matches, and times each one."""

    def __init__(self, workdir: str | Path, echo: Callable[[str], None] | None = None):
        self.workdir = Path(workdir)
        self.marker_dir = Workdir(self.workdir).stages
        self.results: list[StageResult] = []
        self.echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))

    def marker(self, stage: Stage) -> Path:
        return self.marker_dir / f"{stage.name}.json"

    def upstream_digest(self, before: list[Stage]) -> str:
        """A digest of the markers of ``before`` (any rerun among them rewrites its marker)."""
        h = hashlib.sha256()
        for s in before:
            path = self.marker(s)
            h.update(s.name.encode() + b"\0")
            h.update(path.read_bytes() if path.exists() else b"missing")
        return h.hexdigest()[:16]

    def is_done(self, stage: Stage, upstream: str | None = None) -> bool:
        if stage.done is not None:
            return bool(stage.done())
        path = self.marker(stage)
        if not path.exists():
            return False
        try:
            saved = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        # A marker without a digest predates it: trust its params (it is rewritten with one).
        if upstream is not None and saved.get("upstream", upstream) != upstream:
            return False
        return saved.get("params") == json.loads(json.dumps(stage.params))

    def run(self, stage: Stage, index: int | None = None, total: int | None = None,
            upstream: str | None = None) -> StageResult:
        """Run ``stage`` unless its marker matches its params (and ``upstream``, when given)."""
        prefix = f"[{index}/{total}] " if index is not None and total else ""
        if self.is_done(stage, upstream):
            saved = {} if stage.done is not None else json.loads(self.marker(stage).read_text())
            summary = saved.get("summary")
            if upstream is not None and stage.done is None and "upstream" not in saved:
                atomic_write_json(self.marker(stage), {**saved, "upstream": upstream})
            self.echo(f"{prefix}{stage.name}: cached ({stage.description})")
            result = StageResult(stage.name, 0.0, True, summary)
        else:
            self.echo(f"{prefix}{stage.name}: {stage.description}")
            start = time.perf_counter()
            summary = stage.run()
            seconds = time.perf_counter() - start
            if stage.done is None:
                marker = {"params": stage.params, "seconds": seconds, "summary": summary}
                if upstream is not None:
                    marker["upstream"] = upstream
                atomic_write_json(self.marker(stage), marker)
            self.echo(f"{prefix}{stage.name}: done in {_fmt_seconds(seconds)}")
            result = StageResult(stage.name, seconds, False, summary)
        self.results.append(result)
        return result

    def run_all(self, stages: list[Stage]) -> list[StageResult]:
        """Run ``stages`` in order; a stage that runs makes every later one run too."""
        first = next((i for i, s in enumerate(stages)
                      if not self.is_done(s, self.upstream_digest(stages[:i]))), len(stages))
        pending = stages[first:]
        if pending:
            eta = sum(s.estimate_s for s in pending)
            self.echo(f"{len(pending)} of {len(stages)} stages to run, roughly "
                      f"{_fmt_seconds(eta)} on 2 CPU cores; finished stages are cached in "
                      f"{self.marker_dir}")
        return [self.run(s, i + 1, len(stages), self.upstream_digest(stages[:i]))
                for i, s in enumerate(stages)]

    def timing_table(self) -> str:
        """A plain-text table of per-stage wall time (cached stages show 'cached')."""
        width = max([len(r.name) for r in self.results] + [5])
        lines = [f"{'stage':<{width}}  {'time':>9}", f"{'-' * width}  {'-' * 9}"]
        for r in self.results:
            lines.append(f"{r.name:<{width}}  {'cached' if r.cached else _fmt_seconds(r.seconds):>9}")
        total = sum(r.seconds for r in self.results)
        lines.append(f"{'total':<{width}}  {_fmt_seconds(total):>9}")
        return "\n".join(lines)


def _fmt_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {int(s % 60):02d} s"
