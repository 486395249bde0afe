"""A tiny synthetic dataset for the augmentation tests (made once per session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from clip2nerf.data.synth import SynthConfig, generate_dataset

sys.path.insert(0, str(Path(__file__).parent))

TINY = SynthConfig(classes=("chair", "lamp", "car"), per_class=4, views=4, res=32,
                   supersample=1, seed=5)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """3 classes x 4 objects (2 train, 1 val, 1 test each) x 4 views at 32 px."""
    out = tmp_path_factory.mktemp("aug") / "data"
    generate_dataset(out, TINY, progress=False)
    return out
