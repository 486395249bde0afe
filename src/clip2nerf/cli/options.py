"""Bounded click option types: every numeric CLI option is parsed through one of these.

The bounds themselves live in ``clip2nerf.utils.bounds`` (plain data the HTTP service reuses);
this module only adapts them to click, so a bad value is a one-line usage error (exit 2)
naming the option: ``error: --res 100000: must be an integer >= 8 and <= 4096 (pixels per
side)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clip2nerf.errors import UserError
from clip2nerf.utils import bounds as b


class BoundedNumber(click.ParamType):
    """A click type checking an int or a finite float against a ``Bound``."""

    def __init__(self, bound: b.Bound):
        self.bound = bound
        self.name = "integer" if bound.kind is int else "float"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "INTEGER" if self.bound.kind is int else "FLOAT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        name = (param.opts[0] if param is not None and param.opts else
                param.name if param is not None else "value")
        try:
            return self.bound.check(value, str(name))
        except UserError as exc:
            # A UsageError (exit 2) whose text reads like the project's own errors:
            # "--k 0: must be an integer >= 1 and <= 10000".
            raise click.UsageError(str(exc), ctx) from None


def bounded(bound: b.Bound) -> BoundedNumber:
    return BoundedNumber(bound)


RESOLUTION = bounded(b.RESOLUTION)
VIEWS = bounded(b.VIEWS)
SAMPLES = bounded(b.SAMPLES)
SEED = bounded(b.SEED)
K = bounded(b.K)
EPOCHS = bounded(b.EPOCHS)
STOP_AFTER = bounded(b.STOP_AFTER)
BATCH_SIZE = bounded(b.BATCH_SIZE)
LR = bounded(b.LR)
WEIGHT_DECAY = bounded(b.WEIGHT_DECAY)
NLIST = bounded(b.NLIST)
NPROBE = bounded(b.NPROBE)
FOV = bounded(b.FOV)
RADIUS = bounded(b.RADIUS)
ELEVATION = bounded(b.ELEVATION)
COLS = bounded(b.COLS)
STEPS = bounded(b.STEPS)
RAYS = bounded(b.RAYS)
GRID = bounded(b.GRID)
HOLDOUT = bounded(b.HOLDOUT)
THREADS = bounded(b.THREADS)
WORKERS = bounded(b.WORKERS)
LIMIT = bounded(b.LIMIT)
CHUNK = bounded(b.CHUNK)
PER_CLASS = bounded(b.PER_CLASS)
SUPERSAMPLE = bounded(b.SUPERSAMPLE)
IMAGE_SIZE = bounded(b.IMAGE_SIZE)
TIMING = bounded(b.TIMING)
N_VIEWS_TARGET = bounded(b.N_VIEWS_TARGET)
DIFFUSION_STEPS = bounded(b.DIFFUSION_STEPS)
GUIDANCE = bounded(b.GUIDANCE)
NEW_TOKENS = bounded(b.NEW_TOKENS)
INPUT_SCALE = bounded(b.INPUT_SCALE)
SHARD_SIZE = bounded(b.SHARD_SIZE)
RETRIES = bounded(b.RETRIES)


def check_out_file(out: str | Path, option: str = "--out", suffix: str | None = ".png") -> Path:
    """An output file path that can be written: the right suffix, not a folder, and no
    existing file where its parent folder would have to be."""
    out = Path(out)
    if suffix is not None and out.suffix.lower() != suffix:
        raise UserError(f"{option} {out}: must be a {suffix} file")
    if out.is_dir():
        raise UserError(f"{option} {out}: is a folder; give a file name")
    _check_parents(out, option)
    return out


def check_out_dir(out: str | Path, option: str = "--out") -> Path:
    """An output folder path: not an existing file, and no file where a parent would be."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{option} {out}: is a file, expected a folder")
    _check_parents(out, option)
    return out


def _check_parents(out: Path, option: str) -> None:
    """The nearest existing parent of ``out`` must be a folder (not a file in the way)."""
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{option} {out}: {parent} is a file, not a folder")
            break
