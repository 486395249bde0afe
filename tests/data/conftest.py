"""Small synthetic datasets shared by the data tests (made once per session, tiny sizes)."""

from __future__ import annotations

import pytest

from clip2nerf.data.synth import SynthConfig, generate_dataset

SMALL = SynthConfig(classes=("chair", "lamp", "car"), per_class=3, views=6, res=32, supersample=1,
                    seed=3)


@pytest.fixture(scope="session")
def small_cfg() -> SynthConfig:
    return SMALL


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """3 classes x 3 objects x 6 views at 32 px."""
    out = tmp_path_factory.mktemp("synth") / "small"
    generate_dataset(out, SMALL, progress=False)
    return out
