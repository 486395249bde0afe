"""A diverging mapper run stops with a UserError naming --lr and saves nothing non-finite."""

from __future__ import annotations

import pytest
from linked_tables import linked_tables

from clip2nerf.mapping import MapperConfig, TrainConfig, train_mapper
from clip2nerf.utils.training import NonFiniteTrainingError


def test_diverging_mapper_is_refused_and_not_saved(tmp_path):
    nerf, views = linked_tables(n_classes=2, per_class=4, n_views=2)[:2]
    # lr far beyond the CLI's bound (set directly, as a library user could): weights overflow.
    tc = TrainConfig(epochs=3, lr=1e30, batch_size=4)
    cfg = MapperConfig(direction="nerf2clip", vlm_space=views.space, vlm_dim=views.dim,
                       nf2vec_space=nerf.space, nf2vec_dim=nerf.dim, train=tc)
    out = tmp_path / "mapper"
    with pytest.raises(NonFiniteTrainingError, match="--lr 1e\\+30") as info:
        train_mapper(cfg, nerf, views, nerf.ids, None, None, out, progress=False)
    assert "\n" not in str(info.value)
    assert not (out / "model.safetensors").exists() and not (out / "checkpoint.pt").exists()


def test_nonfinite_lr_is_refused_before_training():
    from clip2nerf.errors import UserError

    with pytest.raises(UserError, match="--lr inf"):
        TrainConfig.paper("clip2nerf", lr=float("inf"))
    with pytest.raises(UserError, match="--weight-decay nan"):
        TrainConfig.paper("clip2nerf", weight_decay=float("nan"))
