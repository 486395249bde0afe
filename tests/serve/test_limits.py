"""The service checks request numbers with the project's bounds (utils.bounds SERVE_*)."""

import pytest
from pydantic import ValidationError

from clip2nerf.serve import limits
from clip2nerf.serve.routes.generate import GenerateQuery
from clip2nerf.serve.routes.search import TextQuery
from clip2nerf.utils import bounds
from clip2nerf.utils.validate import error_line


@pytest.mark.parametrize("model, bound, name", [(TextQuery, bounds.SERVE_K, "k"),
                                                (GenerateQuery, bounds.SERVE_VIEWS, "views")])
def test_request_numbers_use_the_shared_bounds(model, bound, name):
    hi = int(bound.hi)
    assert getattr(model(text="x", **{name: hi}), name) == hi
    assert getattr(model(text="x", **{name: 1}), name) == 1
    for bad in (0, hi + 1, True, "3", 2.0):
        with pytest.raises(ValidationError) as err:
            model(text="x", **{name: bad})
        line = error_line(err.value)
        assert line.startswith(f"{name}: must be ") and "\n" not in line, line
    assert limits.MAX_K == bounds.SERVE_MAX_K and limits.MAX_GENERATE_VIEWS == bounds.SERVE_MAX_GENERATE_VIEWS


def test_a_bound_is_one_declaration():
    """``Bound.limits`` (FastAPI's Query/Form) and ``Bound.field`` (models) read one range."""
    assert bounds.SERVE_K.limits == {"ge": 1, "le": bounds.SERVE_MAX_K}
    assert bounds.LR.limits == {"gt": 0.0, "le": bounds.MAX_LR}
    assert bounds.FOV.limits == {"gt": 0.0, "lt": 180.0}
