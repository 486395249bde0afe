"""Checks of values read from files: numbers, nested lists, and dataclass configs from JSON.

One vocabulary for every on-disk format (configs, headers, manifests): a failed check raises
``ValueError`` whose message names the field (``decoder.hidden: must be <= 16384, got 10**9``);
each reader turns it into its own ``UserError`` naming the file. No torch, no click: the HTTP
service uses the same checks.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, Union

Number = int | float


def is_int(v: Any) -> bool:
    """A real integer (``True``/``False`` are not integers here)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def finite_number(v: Any, name: str, lo: Number | None = None, hi: Number | None = None,
                  lo_open: bool = False, hi_open: bool = False) -> float:
    """``v`` as a finite float inside [lo, hi] (open ends with ``lo_open``/``hi_open``)."""
    if not is_number(v):
        raise ValueError(f"{name}: must be a number, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v!r}")
    _check_range(v, name, lo, hi, lo_open, hi_open)
    return float(v)


def int_in(v: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """``v`` as an int inside [lo, hi]; floats, strings and bools are refused."""
    if not is_int(v):
        raise ValueError(f"{name}: must be an integer, got {v!r}")
    _check_range(v, name, lo, hi, False, False)
    return int(v)


def _check_range(v: Number, name: str, lo: Number | None, hi: Number | None, lo_open: bool,
                 hi_open: bool) -> None:
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ValueError(f"{name}: must be {'>' if lo_open else '>='} {lo}, got {_short(v)}")
    if hi is not None and (v >= hi if hi_open else v > hi):
        raise ValueError(f"{name}: must be {'<' if hi_open else '<='} {hi}, got {_short(v)}")


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def aabb(v: Any, name: str = "aabb") -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """An axis-aligned box ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]``: finite, min < max."""
    if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(
            isinstance(c, (list, tuple)) and len(c) == 3 for c in v):
        raise ValueError(f"{name}: must be [[xmin, ymin, zmin], [xmax, ymax, zmax]], got {_short(v)}")
    lo = tuple(finite_number(x, name) for x in v[0])
    hi = tuple(finite_number(x, name) for x in v[1])
    if not all(a < b for a, b in zip(lo, hi, strict=True)):
        raise ValueError(f"{name}: every min must be below its max, got {_short(v)}")
    return lo, hi  # type: ignore[return-value]


def str_list(v: Any, name: str, unique: bool = False) -> list[str]:
    """A JSON list of strings (optionally without repeats)."""
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise ValueError(f"{name}: must be a list of strings, got {_short(v)}")
    if unique and len(set(v)) != len(v):
        seen: set[str] = set()
        dup = next(s for s in v if s in seen or seen.add(s))  # linear: tables hold millions
        raise ValueError(f"{name}: id {dup!r} appears more than once")
    return list(v)


def require_dict(v: Any, name: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError(f"{name}: must be a JSON object, got {type(v).__name__}")
    return v


# --- dataclass configs from JSON ---------------------------------------------------------------

Bounds = dict[str, tuple[Number | None, Number | None]]
"""Per-field inclusive ranges ``{"hidden": (1, 16384)}``; numbers without one must be finite."""


def dataclass_from_dict(cls: type, d: Any, what: str, bounds: Bounds | None = None) -> Any:
    """Build dataclass ``cls`` from a JSON object, checking every field against its annotation.

    Unknown keys, wrong types (an ``int`` field given ``"many"``, ``2.5`` or ``true``), values
    outside ``Literal`` choices, non-finite floats and numbers outside ``bounds`` raise
    ``ValueError`` naming ``what.field``. Lists become tuples for ``tuple[...]`` fields; nested
    dataclass fields are checked recursively (their own bounds via ``<field>.<name>`` keys or
    the nested class's ``FIELD_BOUNDS``). Missing keys take the dataclass default.
    """
    d = require_dict(d, what)
    bounds = {**getattr(cls, "FIELD_BOUNDS", {}), **(bounds or {})}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"{what}: unknown keys {unknown}")
    kw = {}
    for key, value in d.items():
        kw[key] = _coerce(value, hints[key], f"{what}.{key}", bounds.get(key), bounds, key)
    return cls(**kw)


def _coerce(v: Any, tp: Any, name: str, rng: tuple | None, bounds: Bounds, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return v
    if origin in (Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(v, inner[0], name, rng, bounds, key)
        for a in inner:
            try:
                return _coerce(v, a, name, rng, bounds, key)
            except ValueError:
                continue
        raise ValueError(f"{name}: unexpected value {_short(v)}")
    if origin is Literal:
        if v not in args or type(v) is not type(next(a for a in args if a == v)):
            raise ValueError(f"{name}: must be one of {', '.join(map(repr, args))}, got {_short(v)}")
        return v
    if tp is bool:
        if not isinstance(v, bool):
            raise ValueError(f"{name}: must be true or false, got {_short(v)}")
        return v
    if tp is int:
        lo, hi = rng or (None, None)
        return int_in(v, name, lo, hi)
    if tp is float:
        lo, hi = rng or (None, None)
        return finite_number(v, name, lo, hi)
    if tp is str:
        if not isinstance(v, str):
            raise ValueError(f"{name}: must be a string, got {_short(v)}")
        return v
    if origin is tuple:
        if not isinstance(v, (list, tuple)):
            raise ValueError(f"{name}: must be a list, got {_short(v)}")
        if len(args) == 2 and args[1] is Ellipsis:
            if len(v) > 4096:
                raise ValueError(f"{name}: too long ({len(v)} items)")
            return tuple(_coerce(x, args[0], name, rng, bounds, key) for x in v)
        if len(v) != len(args):
            raise ValueError(f"{name}: must have {len(args)} items, got {len(v)}")
        return tuple(_coerce(x, a, name, rng, bounds, key) for x, a in zip(v, args, strict=True))
    if dataclasses.is_dataclass(tp):
        if isinstance(v, tp):
            return v
        if hasattr(tp, "from_dict"):
            return tp.from_dict(v)
        sub = {k[len(key) + 1:]: r for k, r in bounds.items() if k.startswith(key + ".")}
        return dataclass_from_dict(tp, v, name, sub)
    if origin is dict or tp is dict:
        return require_dict(v, name)
    return v


__all__ = ["Bounds", "aabb", "dataclass_from_dict", "finite_number", "int_in", "is_int",
           "is_number", "require_dict", "str_list"]
