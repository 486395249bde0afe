"""Fixtures of the service tests: one tiny catalogue per session (copied where mutated)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra is not installed")
sys.path.insert(0, str(Path(__file__).parent))

from serve_world import build_catalogue, make_app  # noqa: E402


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    return build_catalogue(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="session")
def client(served):
    from fastapi.testclient import TestClient

    with TestClient(make_app(served["workdir"], served), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def fresh(served, tmp_path):
    """A private copy of the catalogue workdir, for tests that change it."""
    workdir = tmp_path / "cat"
    shutil.copytree(served["workdir"], workdir)
    return {**served, "workdir": workdir}
