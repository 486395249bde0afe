"""Fixtures for the VLM tests: a tiny random CLIP folder and a tiny offline model, built once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from vlm_helpers import make_fake_dataset, make_tiny_clip  # noqa: E402


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("tiny_clip") / "clip")


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory) -> Path:
    """3 classes x 5 objects (3 train, 1 val, 1 test), 8 views of 32 px."""
    return make_fake_dataset(tmp_path_factory.mktemp("fake") / "data", per_class=5, views=8)


@pytest.fixture(scope="session")
def knn_offline(tmp_path_factory, fake_data):
    """(model folder, model): the default offline model (knn image tower) on the fake dataset."""
    from clip2nerf.vlm.offline import OfflineVLMConfig
    from clip2nerf.vlm.train_offline import prepare_offline

    out = tmp_path_factory.mktemp("offline_knn") / "model"
    model = prepare_offline(fake_data, out, OfflineVLMConfig(image_size=32), device="cpu",
                            progress=False, log=lambda m: None)
    return out, model


@pytest.fixture(scope="session")
def trained_offline(tmp_path_factory, fake_data):
    """(model folder, model) of a small CNN-tower offline model trained on the fake dataset."""
    from clip2nerf.vlm.offline import OfflineVLMConfig
    from clip2nerf.vlm.train_offline import OfflineTrainConfig, prepare_offline

    out = tmp_path_factory.mktemp("offline") / "model"
    mcfg = OfflineVLMConfig(image_tower="cnn", image_size=32, channels=(8, 16, 32))
    tcfg = OfflineTrainConfig(epochs=12, batch_size=32, lr=5e-3, views_per_epoch=None)
    model = prepare_offline(fake_data, out, mcfg, tcfg, device="cpu", progress=False,
                            log=lambda m: None)
    return out, model
