"""Sharded runs in tests: a kill at one shard, and which shards a rerun submits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType


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
