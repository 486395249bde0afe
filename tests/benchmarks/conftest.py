"""The benchmark tests reuse the applications' tiny world (tests/apps/tiny_world.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "apps"))

from tiny_world import build_world  # noqa: E402


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("world"))
