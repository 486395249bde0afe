"""The service checks request numbers with the project's bounds (utils.bounds SERVE_*)."""

import pytest

from clip2nerf.serve import limits
from clip2nerf.utils import bounds


@pytest.mark.parametrize("check, bound, name", [(limits.check_k, bounds.SERVE_K, "k"),
                                                (limits.check_views, bounds.SERVE_VIEWS, "views")])
def test_request_numbers_use_the_shared_bounds(check, bound, name):
    assert check(int(bound.hi)) == bound.hi and check(1) == 1
    for bad in (0, int(bound.hi) + 1, True, "3", 2.0):
        with pytest.raises(limits.BadRequest, match=rf"^{name}\b") as err:
            check(bad)
        assert err.value.status == 422
    assert limits.MAX_K == bounds.SERVE_MAX_K and limits.MAX_GENERATE_VIEWS == bounds.SERVE_MAX_GENERATE_VIEWS
