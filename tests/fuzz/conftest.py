"""Fixtures of the fuzz tests: the applications' tiny world, built once per module."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "apps"))
