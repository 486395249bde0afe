"""The one validation vocabulary: schemas, ``parse`` and its one-line errors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Literal

import pytest

from clip2nerf.errors import UserError
from clip2nerf.utils import bounds
from clip2nerf.utils.bounds import Bound
from clip2nerf.utils.validate import Aabb, NonEmpty, UniqueStrings, parse, parse_json, schema


@schema
@dataclass(frozen=True)
class Inner:
    widths: tuple[Bound(int, 1, 100).field, ...] = (1,)
    names: list[NonEmpty] = field(default_factory=list)


@schema
@dataclass(frozen=True)
class Outer:
    k: bounds.K.field = 5
    lr: bounds.LR.field = 1e-3
    mode: Literal["a", "b"] = "a"
    flag: bool = False
    box: Aabb = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    inner: Inner = field(default_factory=Inner)
    limit: bounds.LIMIT.field | None = None


def test_valid_data_becomes_the_dataclass_with_tuples():
    got = parse(Outer, {"k": 7, "lr": 1, "inner": {"widths": [3, 4], "names": ["x"]},
                        "box": [[0, 0, 0], [1, 2, 3]]}, "cfg")
    assert got == Outer(k=7, lr=1.0, box=((0, 0, 0), (1, 2, 3)),
                        inner=Inner(widths=(3, 4), names=["x"]))
    assert isinstance(got.lr, float) and got.inner.widths == (3, 4)


@pytest.mark.parametrize("data, line", [
    ({"k": 0}, "cfg.k: must be >= 1, got 0"),
    ({"k": 10**9}, f"cfg.k: must be <= {bounds.MAX_K}, got 1000000000"),
    ({"k": 2.0}, "cfg.k: must be an integer, got 2.0"),
    ({"k": True}, "cfg.k: must be an integer, got True"),
    ({"k": "3"}, "cfg.k: must be an integer, got '3'"),
    ({"lr": 0}, "cfg.lr: must be > 0.0, got 0"),
    ({"lr": math.nan}, "cfg.lr: must be finite, got nan"),
    ({"lr": "fast"}, "cfg.lr: must be a number, got 'fast'"),
    ({"mode": "c"}, "cfg.mode: must be one of 'a', 'b', got 'c'"),
    ({"flag": 1}, "cfg.flag: must be true or false, got 1"),
    ({"box": [[1, 1, 1], [0, 0, 0]]}, "cfg.box: every min must be below its max"),
    ({"box": "box"}, "cfg.box: must be [[xmin, ymin, zmin], [xmax, ymax, zmax]], got 'box'"),
    ({"inner": {"widths": [1, 500]}}, "cfg.inner.widths[1]: must be <= 100, got 500"),
    ({"inner": {"names": ["x", ""]}}, "cfg.inner.names[1]: must not be empty"),
    ({"inner": {"names": ["x", 5]}}, "cfg.inner.names[1]: must be a string, got 5"),
    ({"inner": []}, "cfg.inner: must be a JSON object, got list"),
    ({"zz": 1, "aa": 2}, "cfg: unknown keys ['aa', 'zz']"),
    ({"inner": {"q": 1}}, "cfg.inner: unknown keys ['q']"),
    ({"limit": 0}, "cfg.limit: must be >= 1, got 0"),
    ({"box": [[math.nan, 0, 0], [1, 1, 1]]}, "cfg.box[0][0]: must be finite, got nan"),
    ([1], "cfg: must be a JSON object, got list"),
])
def test_one_line_names_the_field_the_rule_and_the_value(data, line):
    with pytest.raises(ValueError) as err:
        parse(Outer, data, "cfg")
    assert str(err.value).startswith(line) and "\n" not in str(err.value)


def test_long_values_are_shortened_and_errors_take_the_callers_class():
    with pytest.raises(UserError) as err:
        parse(Outer, {"mode": "x" * 1000}, "cfg", UserError)
    assert len(str(err.value)) < 120


def test_json_text_lists_and_repeats():
    assert parse_json(UniqueStrings, '["a", "b"]', "ids") == ["a", "b"]
    with pytest.raises(ValueError, match=r"^ids: id 'a' appears more than once"):
        parse_json(UniqueStrings, '["a", "b", "a"]', "ids")
    with pytest.raises(ValueError, match=r"^ids: not valid JSON"):
        parse_json(list[str], "[1,", "ids")
    with pytest.raises(ValueError, match=r"^labels\[0\]: must be a string, got 1"):
        parse_json(list[str], "[1]", "labels")


def test_a_bound_reads_the_same_for_the_cli_and_a_schema():
    for bound in (bounds.K, bounds.LR, bounds.FOV, bounds.SEED):
        lo, hi = bound.lo, bound.hi
        inside = bound.kind((lo + hi) / 2)
        assert bound.check(inside, "--x") == inside == parse(bound.field, inside, "x")
        for bad in (lo - 1 if bound.kind is int else lo - 0.5, hi + 1):
            with pytest.raises(UserError):
                bound.check(bad, "--x")
            with pytest.raises(ValueError):
                parse(bound.field, bad, "x")
    with pytest.raises(ValueError):
        parse(bounds.FOV.field, 0.0, "x")  # open end
    # the bound itself is pydantic metadata: the form type checkers read as a plain int
    assert parse(Annotated[int, bounds.K], 3, "k") == 3
    with pytest.raises(ValueError, match=r"^k: must be >= 1, got 0$"):
        parse(Annotated[int, bounds.K], 0, "k")
