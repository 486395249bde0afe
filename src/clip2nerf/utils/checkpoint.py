"""The checkpoint of a resumable training loop (nf2vec, the mappers, the offline VLM's CNN).

One format for the three loops: a ``torch.save`` dict read back with
``torch.load(weights_only=True)`` (never a pickle of arbitrary objects), written atomically::

    format      "clip2nerf-checkpoint"     version   1
    epoch       epochs finished            history   one JSON-able record per epoch
    model       model state dict           optimizer optimiser state dict
    scheduler   LR schedule state dict     config    the run's settings as JSON (or None)
    ...         loop-specific extras (nf2vec: ``rng``, its sampling generator's state)

Checkpoints of older clip2nerf versions still load: the mapper's (``config`` and
``history`` as JSON text), nf2vec's (``model_config`` and ``train_config``) and the offline
VLM's (``optim`` and ``sched``, no config). Every unreadable or incomplete checkpoint is one
``UserError`` line naming the file and saying to delete it.

``seeded(seed)`` seeds the CPU generator for a block (a model's initialisation) and gives the
caller's generator state back afterwards: training does not reseed the caller's global RNG.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clip2nerf.errors import UserError
from clip2nerf.utils.training import checkpoint_error

CHECKPOINT_FORMAT = "clip2nerf-checkpoint"
CHECKPOINT_VERSION = 1
_CORE = ("epoch", "model", "optimizer", "scheduler", "history", "config")
_ALIASES = {"optim": "optimizer", "sched": "scheduler"}
"""Old key -> key (offline VLM checkpoints before the shared format)."""


@dataclass
class Checkpoint:
    """A loaded checkpoint (see the module docstring for the fields)."""

    path: Path
    epoch: int
    model: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    history: list[dict[str, Any]]
    config: Any = None
    """The run's settings as saved (JSON-like), or None (old offline VLM checkpoints)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def restore(self, model: Any, optimizer: Any, scheduler: Any) -> None:
        """Load the states into ``model``, ``optimizer`` and ``scheduler``; a state that does
        not fit them is the same one-line ``UserError`` as an unreadable file."""
        try:
            model.load_state_dict(self.model)
            optimizer.load_state_dict(self.optimizer)
            scheduler.load_state_dict(self.scheduler)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
            raise checkpoint_error(self.path, exc) from None

    def same_config(self, config: Any) -> bool:
        """Whether the saved settings equal ``config`` (compared as JSON)."""
        return self.config is not None and _as_json(self.config) == _as_json(config)


def _as_json(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples as lists, keys as strings)."""
    return json.loads(json.dumps(value, default=str))


def save_checkpoint(path: str | os.PathLike[str], *, epoch: int, model: Any, optimizer: Any,
                    scheduler: Any, history: list[dict[str, Any]], config: Any,
                    **extra: Any) -> Path:
    """Write a checkpoint atomically. ``model``, ``optimizer`` and ``scheduler`` are the live
    objects (their ``state_dict()`` is saved); ``config`` is JSON-able; ``extra`` holds tensors
    or plain values the loop also needs back."""
    import torch

    from clip2nerf.utils.io import atomic_path

    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": int(epoch),
             "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "history": _as_json(history),
             "config": None if config is None else _as_json(config), **extra}
    buf = io.BytesIO()
    torch.save(state, buf)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())
    return path


def load_checkpoint(path: str | os.PathLike[str], what: str,
                    map_location: Any = "cpu") -> Checkpoint:
    """Read a checkpoint of this or an older format; every problem is one ``UserError``.

    ``what`` names the loop in messages (``"mapper"``).
    """
    import torch

    path = Path(path)
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint: say which, what to do
        raise checkpoint_error(path, exc) from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: not a {what} checkpoint; delete it to start over")
    raw = {_ALIASES.get(k, k): v for k, v in raw.items()}
    fmt = raw.pop("format", CHECKPOINT_FORMAT)
    version = raw.pop("version", CHECKPOINT_VERSION)
    if fmt != CHECKPOINT_FORMAT or not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise UserError(f"{path}: not a {what} checkpoint this clip2nerf reads (format "
                        f"{fmt!r:.40}, version {version!r:.20}); delete it to start over")
    if "model_config" in raw or "train_config" in raw:  # nf2vec, before the shared format
        raw["config"] = {"model": raw.pop("model_config", None),
                         "train": raw.pop("train_config", None)}
    raw.setdefault("config", None)  # offline VLM, before the shared format
    missing = [k for k in _CORE if k not in raw]
    if missing:
        raise UserError(f"{path}: not a {what} checkpoint (missing {missing}); delete it to "
                        "start over")
    try:
        history, config = raw["history"], raw["config"]
        if isinstance(history, str):  # mapper, before the shared format
            history = json.loads(history)
        if isinstance(config, str):
            config = json.loads(config)
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise ValueError("history is not a list of records")
        if not all(isinstance(raw[k], dict) for k in ("model", "optimizer", "scheduler")):
            raise ValueError("model, optimizer and scheduler must be state dicts")
        epoch = raw["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch {epoch!r:.20} is not a count of epochs")
    except (TypeError, ValueError) as exc:
        raise checkpoint_error(path, exc) from None
    extra = {k: v for k, v in raw.items() if k not in _CORE}
    return Checkpoint(path, epoch, raw["model"], raw["optimizer"], raw["scheduler"],
                      [dict(h) for h in history], config, extra)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with the CPU generator seeded by ``seed``, then give the caller's
    generator state back (what ``torch.manual_seed`` before building a model did, without
    changing the caller's random numbers). Models are built on the CPU, then moved."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(int(seed))
        yield


__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "Checkpoint", "load_checkpoint",
           "save_checkpoint", "seeded"]
