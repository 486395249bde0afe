"""Fixtures for NeRF tests: a tiny analytic dataset (see ``nerf_toy_scene``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nerf_toy_scene import write_dataset


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("toy") / "data")
