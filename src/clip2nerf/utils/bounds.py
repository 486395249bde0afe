"""Bounds of every user-facing number (CLI options now, HTTP parameters later).

Upper bounds protect memory and time (a 100000-pixel render or 10^9 samples per ray would
run for hours), lower bounds keep the maths defined (a zero field of view, a zero radius).
Plain data and functions: no click, no torch. Each bound is declared once and read by
everything that takes the number: ``clip2nerf.cli.options`` turns it into a click type
(``Bound.check``), a schema or request model annotates a field with it (``k: bounds.K.field``,
checked by pydantic, see ``clip2nerf.utils.validate``), FastAPI's ``Query``/``Form`` take
``**bound.limits``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from clip2nerf.errors import UserError

MAX_RESOLUTION = 4096
"""Pixels per side of any rendered or generated image."""
MIN_RESOLUTION = 8
MAX_VIEWS = 1024
"""Views rendered or generated in one call."""
MAX_SAMPLES = 4096
"""Samples along a ray (the box diagonal)."""
MAX_IMAGE_PIXELS = 8192 * 8192
"""Pixels of an image file that is read (decompression bombs are refused above it)."""
MAX_IMAGE_SIDE = 16384
"""Pixels per side of a dataset's images (its ``transforms.json`` ``w``/``h``)."""
MAX_SEED = 2**32 - 1
MAX_K = 10_000
MAX_EPOCHS = 1_000_000
MAX_BATCH = 1 << 16
MAX_LR = 10.0


@dataclass(frozen=True)
class Bound:
    """A number's type and range; ``check`` returns it or raises a UserError naming ``name``."""

    kind: type  # int or float
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    note: str = ""
    """Why the limit exists, shown in the error."""

    @property
    def limits(self) -> dict[str, float]:
        """The range as pydantic's / FastAPI's keywords: ``{"ge": 1, "le": 100}`` (``gt`` /
        ``lt`` for open ends)."""
        out: dict[str, float] = {}
        if self.lo is not None:
            out["gt" if self.lo_open else "ge"] = self.kind(self.lo)
        if self.hi is not None:
            out["lt" if self.hi_open else "le"] = self.kind(self.hi)
        return out

    @functools.cached_property
    def field(self) -> Any:
        """The bound as a field type, ``Annotated[int, bound]``: annotate a schema or request
        model's field with it (``k: bounds.K.field = 5``, or ``Annotated[int, bounds.K]``,
        which type checkers read as ``int``). Floats are finite."""
        return Annotated[self.kind, self]  # type: ignore[name-defined]

    # pydantic unpacks a bound found in ``Annotated[...]`` into these constraints
    # (annotated-types' grouped metadata protocol).
    __is_annotated_types_grouped_metadata__ = True

    def __iter__(self) -> Iterator[Any]:
        import annotated_types as at

        ops = {"ge": at.Ge, "gt": at.Gt, "le": at.Le, "lt": at.Lt}
        for key, value in self.limits.items():
            yield ops[key](value)
        if self.kind is float:
            from pydantic.types import AllowInfNan

            yield AllowInfNan(False)

    def describe(self) -> str:
        def num(v: float) -> str:
            return str(int(v)) if self.kind is int else f"{v:g}"

        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {num(self.lo)}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {num(self.hi)}")
        kind = "an integer" if self.kind is int else "a finite number"
        return f"{kind}" + (f" {' and '.join(parts)}" if parts else "")

    def check(self, value: Any, name: str) -> Any:
        """``value`` (already parsed, or a string) if inside the bound, else a UserError."""
        v = parse_number(value, self.kind, name, self)
        ok = True
        if self.lo is not None:
            ok &= v > self.lo if self.lo_open else v >= self.lo
        if self.hi is not None:
            ok &= v < self.hi if self.hi_open else v <= self.hi
        if not ok:
            note = f" ({self.note})" if self.note else ""
            raise UserError(f"{name} {_short(value)}: must be {self.describe()}{note}")
        return v


def parse_number(value: Any, kind: type, name: str, bound: Bound | None = None) -> Any:
    """``value`` as ``kind`` (int or finite float); strings are parsed, bools refused."""
    want = bound.describe() if bound else ("an integer" if kind is int else "a finite number")
    if isinstance(value, bool):
        raise UserError(f"{name} {value!r}: must be {want}")
    if isinstance(value, str):
        try:
            value = int(value.strip(), 10) if kind is int else float(value)
        except ValueError:
            raise UserError(f"{name} {_short(value)}: must be {want}") from None
    if kind is int:
        if not isinstance(value, int):
            raise UserError(f"{name} {_short(value)}: must be {want}")
        return int(value)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{name} {_short(value)}: must be {want}")
    return float(value)


def _short(v: Any) -> str:
    s = str(v)
    return s if len(s) <= 40 else s[:37] + "..."


# Named bounds, shared by every command and the service.
RESOLUTION = Bound(int, MIN_RESOLUTION, MAX_RESOLUTION, note="pixels per side")
VIEWS = Bound(int, 1, MAX_VIEWS)
SAMPLES = Bound(int, 8, MAX_SAMPLES)
SEED = Bound(int, 0, MAX_SEED)
K = Bound(int, 1, MAX_K)
EPOCHS = Bound(int, 1, MAX_EPOCHS)
STOP_AFTER = Bound(int, 1, MAX_EPOCHS)
BATCH_SIZE = Bound(int, 1, MAX_BATCH)
LR = Bound(float, 0.0, MAX_LR, lo_open=True)
WEIGHT_DECAY = Bound(float, 0.0, 10.0)
NLIST = Bound(int, 1, 1 << 20)
NPROBE = Bound(int, 1, 1 << 20)
FOV = Bound(float, 0.0, 180.0, lo_open=True, hi_open=True, note="degrees")
RADIUS = Bound(float, 0.0, 1e4, lo_open=True)
ELEVATION = Bound(float, -90.0, 90.0, note="degrees")
COLS = Bound(int, 1, MAX_VIEWS)
STEPS = Bound(int, 1, 10_000_000)
RAYS = Bound(int, 1, 1 << 20)
GRID = Bound(int, 1, 512, note="cells per axis")
HOLDOUT = Bound(int, 0, MAX_VIEWS)
THREADS = Bound(int, 0, 1024)
WORKERS = Bound(int, 1, 256)
LIMIT = Bound(int, 1, 10_000_000)
CHUNK = Bound(int, 1, 100_000)
PER_CLASS = Bound(int, 1, 100_000)
SUPERSAMPLE = Bound(int, 1, 8)
IMAGE_SIZE = Bound(int, 16, 512)
TIMING = Bound(int, 1, 10_000)
N_VIEWS_TARGET = Bound(int, 1, MAX_VIEWS)
DIFFUSION_STEPS = Bound(int, 1, 1000)
GUIDANCE = Bound(float, 0.0, 100.0)
NEW_TOKENS = Bound(int, 1, 512)
INPUT_SCALE = Bound(float, 0.0, 1e4, lo_open=True)
SHARD_SIZE = Bound(int, 1, 10_000_000)
RETRIES = Bound(int, 0, 100)

# The web service's per-request limits: tighter than the CLI's, so one request stays
# interactive and small in memory (``clip2nerf.serve.limits`` checks requests with them).
SERVE_MAX_K = 100
SERVE_MAX_GENERATE_VIEWS = 8
SERVE_MAX_IMAGES = 16
"""Views in one multi-view query."""
SERVE_MAX_TEXT_CHARS = 300
SERVE_MAX_IMAGE_PIXELS = 4096 * 4096
"""Declared width x height of one uploaded image; larger ones are refused before decoding."""
SERVE_K = Bound(int, 1, SERVE_MAX_K, note="results per request")
SERVE_VIEWS = Bound(int, 1, SERVE_MAX_GENERATE_VIEWS, note="generated views per request")

__all__ = [n for n in dir() if n.isupper()] + ["Bound", "parse_number"]
