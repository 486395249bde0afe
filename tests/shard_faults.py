"""Sharded runs in tests: shards that fail once, a kill at one shard, and which shards a rerun
submits."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any


class InjectedFailure(RuntimeError):
    """Raised by a shard task that was told to fail once (tests of retries)."""


@dataclass
class FailOnce:
    """A shard function ``fn`` that fails a shard once when told to: if the marker file
    ``<folder>/<shard name>.fail`` exists, the attempt deletes it and raises
    :class:`InjectedFailure` before doing any work (only one attempt can delete it)."""

    fn: Callable[..., Any]
    folder: str

    def __call__(self, shard, *args):
        marker = Path(self.folder) / f"{shard.name}.fail"
        try:
            marker.unlink()
        except FileNotFoundError:
            return self.fn(shard, *args)
        raise InjectedFailure(f"{shard.name}: injected failure ({marker})")


@contextlib.contextmanager
def failing_marked_shards(folder: str | Path) -> Iterator[Path]:
    """Within the block every shard function of ``map_shards`` (local or Ray) is wrapped in
    :class:`FailOnce` with ``folder``: touch ``<folder>/<shard name>.fail`` to make that
    shard's next attempt fail. Ray's workers cannot import the tests, so this module is
    pickled by value."""
    import ray

    from clip2nerf.utils import executor

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    wrap = functools.partial(FailOnce, folder=str(folder))
    executor.shard_wrappers.append(wrap)
    try:
        yield Path(folder)
    finally:
        executor.shard_wrappers.remove(wrap)


@contextlib.contextmanager
def interrupted_at_shard(monkeypatch, module: ModuleType, name: str, index: int
                         ) -> Iterator[None]:
    """Within the block, ``module.name`` (a per-shard function taking the ``Shard`` first)
    raises KeyboardInterrupt for shard ``index`` (a kill mid-run) and runs the others."""
    real = getattr(module, name)

    def dies(shard, *args):
        if shard.index == index:
            raise KeyboardInterrupt
        return real(shard, *args)

    monkeypatch.setattr(module, name, dies)
    try:
        yield
    finally:
        monkeypatch.setattr(module, name, real)


def record_submitted(monkeypatch, module: ModuleType) -> list[str]:
    """The names of the shards ``module.map_shards`` is given from now on (filled as it runs)."""
    submitted: list[str] = []
    real_map = module.map_shards

    def spy(fn, shards, *args, **kwargs):
        submitted.extend(s.name for s in shards)
        return real_map(fn, shards, *args, **kwargs)

    monkeypatch.setattr(module, "map_shards", spy)
    return submitted
