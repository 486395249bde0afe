"""Where clip2nerf keeps its per-user files (prepared models, text-embedding caches)."""

from __future__ import annotations

import os
from pathlib import Path


def clip2nerf_home() -> Path:
    """``$CLIP2NERF_HOME``, default ``~/.cache/clip2nerf``."""
    return Path(os.environ.get("CLIP2NERF_HOME") or Path.home() / ".cache" / "clip2nerf").expanduser()
