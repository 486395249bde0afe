"""The one validation vocabulary: pydantic schemas for every on-disk format and request.

A schema is a dataclass (a config, a file header) marked ``@schema``, or any type pydantic
knows (``list[str]``, ``dict[str, Any]``); its fields say what is allowed with plain
annotations: ``int``, ``float`` (finite), ``bool``, ``str``, ``Literal[...]``,
``tuple[...]``, ``list[...]``, nested schemas, and bounded numbers ``bounds.K.field``
(``clip2nerf.utils.bounds``: one ``Bound`` read by the CLI option and the model alike).

``parse(type, data, what)`` checks data read from JSON against it, strictly (``2.0`` is not
an int, ``"3"`` not a number, ``true`` not an integer), refusing unknown keys and NaN or
infinite floats, and raises ``ValueError`` with one line naming the field path, the rule and
the bad value (``NeRF config.hidden: must be <= 4096, got 1000000000``); each reader turns
it into its own ``UserError`` naming the file. ``error_line`` is the one formatter of
pydantic's errors, the HTTP service's included. No torch, no click.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PydanticUserError,
    TypeAdapter,
    ValidationError,
)

T = TypeVar("T")

SCHEMA_CONFIG = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
"""Strict types, unknown keys refused, finite floats only."""

MAX_SHOWN = 40
"""Characters of a bad value quoted in an error (values may be huge or binary)."""


def is_number(v: Any) -> bool:
    """An int or a float (``True``/``False`` are not numbers here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _min_below_max(box: tuple[tuple[float, ...], tuple[float, ...]]) -> Any:
    if not all(a < b for a, b in zip(box[0], box[1], strict=True)):
        raise ValueError(f"every min must be below its max, got {shorten(box)}")
    return box


def _box_shape(v: Any) -> Any:
    # Before the element checks, so a box of the wrong shape says what shape it needs.
    if not (isinstance(v, (list, tuple)) and len(v) == 2
            and all(isinstance(c, (list, tuple)) and len(c) == 3 for c in v)):
        raise ValueError(f"must be [[xmin, ymin, zmin], [xmax, ymax, zmax]], got {shorten(v)}")
    return tuple(tuple(c) for c in v)  # what the strict tuple checks that follow accept


Aabb = Annotated[tuple[tuple[float, float, float], tuple[float, float, float]],
                 AfterValidator(_min_below_max), BeforeValidator(_box_shape)]
"""An axis-aligned box ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]``: finite, min < max."""


def schema(cls: type[T] | None = None, *, extra: str = "forbid") -> Any:
    """Mark dataclass (or TypedDict) ``cls`` as a schema read by ``parse``: strict types,
    finite floats, unknown keys refused (``extra="ignore"`` for interchange formats other
    tools write, such as ``transforms.json``).

    The class stays a plain dataclass: code that builds one is trusted (checks are at the
    edge), only ``parse`` validates. Put it above ``@dataclass``.
    """
    config = SCHEMA_CONFIG if extra == "forbid" else ConfigDict(SCHEMA_CONFIG, extra=extra)

    def mark(c: type[T]) -> type[T]:
        c.__pydantic_config__ = config  # type: ignore[attr-defined]
        return c

    return mark if cls is None else mark(cls)


@functools.lru_cache(maxsize=256)
def _adapter(tp: Any) -> TypeAdapter:
    # Building a validator costs milliseconds; headers of thousands of NeRF files share one.
    # Non-dataclass types (list[str], dict[...]) take the config here; schemas carry theirs.
    try:
        return TypeAdapter(tp, config=SCHEMA_CONFIG)
    except PydanticUserError:  # pydantic refuses a config for types that carry their own
        return TypeAdapter(tp)


def parse(tp: type[T] | Any, data: Any, what: str, error: type[Exception] = ValueError,
          where: str = "") -> T:
    """``data`` (from JSON) validated as ``tp``; a failure raises ``error`` with one line
    naming ``what`` and the field path, after ``where`` (a file) when given:
    ``/d/dataset.json: version: must be an integer, got 'one'``.

    Validation runs in pydantic's JSON mode, where strict types still let JSON arrays become
    tuples (its Python mode would want tuple objects), so ``data`` is serialised first.
    """
    try:
        text = json.dumps(data, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise error(f"{_at(str(where))}{_at(what)}not JSON data ({exc})") from None
    return parse_json(tp, text, what, error, where)


def parse_json(tp: type[T] | Any, text: str | bytes, what: str,
               error: type[Exception] = ValueError, where: str = "") -> T:
    """``parse`` for JSON text (a header field holding JSON): parsed and checked in one pass."""
    try:
        return _adapter(tp).validate_json(text, strict=True)
    except ValidationError as exc:
        raise error(_at(str(where)) + error_line(exc, what)) from None


def _no_repeats(items: list[str]) -> list[str]:
    if len(set(items)) != len(items):
        seen: set[str] = set()
        dup = next(s for s in items if s in seen or seen.add(s))  # type: ignore[func-returns-value]
        raise ValueError(f"id {dup!r} appears more than once")
    return items


NonEmpty = Annotated[str, Field(min_length=1)]
"""A string that is not empty (a name, a path)."""

UniqueStrings = Annotated[list[str], AfterValidator(_no_repeats)]
"""A list of strings without repeats (ids); the error names the first repeated one."""


def shorten(value: Any) -> str:
    """``repr(value)`` cut to ``MAX_SHOWN`` characters."""
    s = repr(value)
    return s if len(s) <= MAX_SHOWN else s[:MAX_SHOWN - 3] + "..."


_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")
_MISSING = ("missing", "missing_argument", "missing_keyword_only_argument")
_OBJECT = ("dict_type", "dataclass_type", "dataclass_exact_type", "model_type",
           "model_attributes_type", "mapping_type")
_RULES = {
    "int_type": "must be an integer", "int_parsing": "must be an integer",
    "int_from_float": "must be an integer", "float_type": "must be a number",
    "float_parsing": "must be a number", "finite_number": "must be finite",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "string_type": "must be a string", "list_type": "must be a list",
    "tuple_type": "must be a list", "set_type": "must be a list",
}


def _is_name(part: Any) -> bool:
    # pydantic puts union members and validators in the location ("function-after[...]",
    # "tuple[int, ...]"); they are no field names.
    return isinstance(part, int) or not any(c in str(part) for c in "[(")


def field_path(what: str, loc: Iterable[Any]) -> str:
    """``what.field[0].sub`` from pydantic's location tuple."""
    out = what
    for part in loc:
        if not _is_name(part):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _rule(e: Mapping[str, Any]) -> str:
    kind, ctx, value = e["type"], e.get("ctx") or {}, e.get("input")
    if kind in _OBJECT:
        return f"must be a JSON object, got {type(value).__name__}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op, key = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
                   "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}[kind]
        # The value passed its type check: a number, or a query string holding one.
        shown = value if isinstance(value, str) and len(value) <= MAX_SHOWN else shorten(value)
        return f"must be {op} {ctx[key]}, got {shown}"
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).rsplit(" or ", 1)
        one = "one of " if len(choices) > 1 else ""
        return f"must be {one}{', '.join(choices)}, got {shorten(value)}"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must have at least {n} characters"
    if kind == "string_too_long":
        return f"must have at most {ctx.get('max_length')} characters, got {len(value)}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        many = "at least" if kind == "too_short" else "at most"
        items = "item" if n == 1 else "items"
        return f"must have {many} {n} {items}, got {ctx.get('actual_length', len(value))}"
    if kind == "json_invalid":
        return f"not valid JSON ({ctx.get('error', '')})"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", e.get("msg", "invalid")))
    rule = _RULES.get(kind)
    if rule is None:
        msg = str(e.get("msg", "invalid"))
        rule = msg[:1].lower() + msg[1:]
    return f"{rule}, got {shorten(value)}"


def _at(path: str) -> str:
    return f"{path}: " if path else ""


def error_line(errors: ValidationError | Iterable[Mapping[str, Any]], what: str = "",
               skip: Iterable[str] = ()) -> str:
    """One line for pydantic's errors: unknown keys first (all of one object named), else the
    first problem, ``path: rule, got value``; ``skip`` drops location parts (``body``)."""
    raw = errors.errors(include_url=False) if isinstance(errors, ValidationError) else errors
    skip = set(skip)
    errs = [{**e, "loc": tuple(p for p in e.get("loc", ()) if p not in skip)} for e in raw]
    if not errs:
        return f"{_at(what)}invalid"
    unknown = [e for e in errs if e["type"] in _UNKNOWN]
    if unknown:
        parent = unknown[0]["loc"][:-1]
        # Keys come from the file: at most five, each shortened.
        keys = sorted(str(e["loc"][-1])[:MAX_SHOWN] for e in unknown
                      if e["loc"][:-1] == parent)[:5]
        return f"{_at(field_path(what, parent))}unknown keys {keys}"
    missing = [e for e in errs if e["type"] in _MISSING and e["loc"]]
    if missing:  # every missing key of one object, as for unknown ones
        parent = missing[0]["loc"][:-1]
        keys = sorted(str(e["loc"][-1]) for e in missing if e["loc"][:-1] == parent)
        if len(keys) == 1:
            return f"{_at(field_path(what, parent))}missing key {keys[0]!r}"
        return f"{_at(field_path(what, parent))}missing keys {keys}"
    e = errs[0]
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    if e["type"] in _MISSING:
        return f"{_at(what)}missing{more}"
    return f"{_at(field_path(what, e['loc']))}{_rule(e)}{more}"


__all__ = ["MAX_SHOWN", "SCHEMA_CONFIG", "Aabb", "NonEmpty", "UniqueStrings", "error_line",
           "field_path", "is_number", "parse", "parse_json", "schema", "shorten"]
