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


def test_invalid_requests_answer_one_line_in_the_projects_words():
    from fastapi import FastAPI, Query
    from fastapi.testclient import TestClient

    from clip2nerf.serve.handlers import add_error_handlers

    app = FastAPI()
    add_error_handlers(app)

    @app.get("/q")
    def q(k: int = Query(5, **bounds.SERVE_K.limits)):
        return {"k": k}

    @app.post("/b")
    def b(body: TextQuery):
        return {"k": body.k}

    client = TestClient(app)
    assert client.get("/q", params={"k": "7"}).json() == {"k": 7}
    for r, line in [(client.get("/q", params={"k": "0"}), "k: must be >= 1, got 0"),
                    (client.get("/q", params={"k": "x"}), "k: must be an integer, got 'x'"),
                    (client.post("/b", json={"text": "a", "k": 101}),
                     f"k: must be <= {bounds.SERVE_MAX_K}, got 101"),
                    (client.post("/b", json={"text": "a", "k": "3"}),
                     "k: must be an integer, got '3'"),
                    (client.post("/b", json={"text": "a", "q": 1}), "unknown keys ['q']"),
                    (client.post("/b", json={"k": 3}), "missing key 'text'"),
                    (client.post("/b"), "missing request body (JSON)")]:
        assert r.status_code == 422 and r.json() == {"error": line}, r.json()
