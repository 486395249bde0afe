"""Ensembles of nf2vec + mapper models (clip2nerf.apps.ensemble): one member is the single
model; members are combined by the mean of nerf2clip outputs / of per-space cosine scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clip2nerf.apps import zero_shot_labels
from clip2nerf.apps.ensemble import (
    EnsembleMember,
    ensemble_scores,
    ensemble_vlm_embeddings,
    ensemble_zero_shot_labels,
)
from clip2nerf.errors import UserError
from clip2nerf.mapping import FeatureMapper, MapperConfig
from clip2nerf.utils.embeddings import l2_normalize

VLM, NF = 8, 12


def _mapper(direction: str, seed: int) -> FeatureMapper:
    torch.manual_seed(seed)
    return FeatureMapper(MapperConfig(direction=direction, vlm_space="vlm:t", vlm_dim=VLM,
                                      nf2vec_space=f"nf2vec:t{seed}", nf2vec_dim=NF,
                                      hidden_dim=16))


def _member(seed: int, n: int = 6) -> EnsembleMember:
    rng = np.random.default_rng(seed)
    return EnsembleMember(l2_normalize(rng.normal(size=(n, NF))), _mapper("nerf2clip", seed),
                          _mapper("clip2nerf", seed))


def test_one_member_is_the_single_model():
    m = _member(0)
    prompts = l2_normalize(np.random.default_rng(9).normal(size=(3, VLM)))
    classes = ["a", "b", "c"]
    assert ensemble_zero_shot_labels([m], prompts, classes)[0] == \
        zero_shot_labels(m.nerf_vectors, m.nerf2clip, prompts, classes)[0]
    q = l2_normalize(np.random.default_rng(5).normal(size=(4, VLM)))
    np.testing.assert_allclose(ensemble_scores([m], q), m.clip2nerf.map(q) @ m.nerf_vectors.T,
                               rtol=1e-5, atol=1e-6)


def test_members_are_averaged():
    a, b = _member(0), _member(1)
    mean = l2_normalize(a.nerf2clip.map(a.nerf_vectors) + b.nerf2clip.map(b.nerf_vectors))
    np.testing.assert_allclose(ensemble_vlm_embeddings([a, b]), mean, rtol=1e-5, atol=1e-6)
    q = l2_normalize(np.random.default_rng(5).normal(size=(4, VLM)))
    both = ensemble_scores([a, b], q)
    one = (ensemble_scores([a], q) + ensemble_scores([b], q)) / 2
    np.testing.assert_allclose(both, one, rtol=1e-5, atol=1e-6)
    # a member repeated does not change the ranking of the other
    assert (ensemble_scores([a, a], q).argmax(1) == ensemble_scores([a], q).argmax(1)).all()


def test_members_must_embed_the_same_nerfs():
    with pytest.raises(UserError, match="different numbers"):
        ensemble_scores([_member(0, 6), _member(1, 5)], np.ones((1, VLM), np.float32))
    with pytest.raises(UserError, match="at least one"):
        ensemble_vlm_embeddings([])
    with pytest.raises(UserError, match="nerf2clip"):
        ensemble_vlm_embeddings([EnsembleMember(np.ones((2, NF), np.float32))])
