"""nf2vec training refuses non-finite losses/weights, never saves them; bad checkpoints are
one short line."""

from __future__ import annotations

import dataclasses

import pytest
from nf2vec_helpers import TINY_MODEL, TINY_TRAIN

from clip2nerf.errors import UserError
from clip2nerf.nf2vec.train import train_nf2vec
from clip2nerf.utils.training import NonFiniteTrainingError


def _quiet(_msg: str) -> None:
    pass


def test_diverging_run_is_refused_and_not_saved(nerf_dir, tmp_path):
    cfg = dataclasses.replace(TINY_TRAIN, epochs=2, lr=1e30)
    out = tmp_path / "model"
    with pytest.raises(NonFiniteTrainingError, match="--lr 1e\\+30"):
        train_nf2vec(nerf_dir, out, TINY_MODEL, cfg, progress=False, log=_quiet)
    assert not (out / "model.safetensors").exists() and not (out / "checkpoint.pt").exists()


@pytest.mark.parametrize("lr", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_lr_is_refused(nerf_dir, tmp_path, lr):
    with pytest.raises(UserError, match="--lr"):
        train_nf2vec(nerf_dir, tmp_path / "m", TINY_MODEL, dataclasses.replace(TINY_TRAIN, lr=lr),
                     progress=False, log=_quiet)


def test_stop_after_zero_is_refused(nerf_dir, tmp_path):
    with pytest.raises(UserError, match="--stop-after 0"):
        train_nf2vec(nerf_dir, tmp_path / "m", TINY_MODEL, TINY_TRAIN, progress=False,
                     log=_quiet, stop_after=0)


def test_unreadable_checkpoint_is_one_short_line(nerf_dir, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(UserError, match="unreadable checkpoint") as info:
        train_nf2vec(nerf_dir, out, TINY_MODEL, TINY_TRAIN, progress=False, log=_quiet)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
