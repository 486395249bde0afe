"""Timing helpers for the evaluation: medians over repeats, after a warm-up."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def time_call(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs, after ``warmup`` runs.

    The median, not the mean, so that one run disturbed by another process (the machine is
    shared) does not move the figure.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def ms_per_item(fn: Callable[[], Any], n_items: int, repeats: int = 5, warmup: int = 1) -> float:
    """Median milliseconds per item of a call that processes ``n_items`` items."""
    if n_items < 1:
        raise ValueError("n_items must be at least 1")
    return 1000.0 * time_call(fn, repeats, warmup) / n_items


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
