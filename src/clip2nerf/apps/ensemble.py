"""Ensembles of independently trained nf2vec + mapper models (issue 13).

On the ``small`` demo the zero-shot labels and retrieval of one model vary by about 15 points
with nf2vec's seed, while the mappers' seed changes nothing; averaging three members' outputs
labelled 77-88% of the held-out NeRFs in three disjoint groups of the demo's 120-epoch models
(single models: 62-85%; docs/results.md). Each member has its own
nf2vec space, so the members are combined where their outputs are comparable:

- zero-shot labels: the mean of the members' nerf2clip outputs (all in the VLM space), then the
  nearest prompt (``ensemble_zero_shot_labels``);
- retrieval: each member maps the query into its own nf2vec space and scores the gallery NeRFs
  there (cosine); the ranking is by the mean of the members' scores (``ensemble_scores``).

A member is ``EnsembleMember(nerf_vectors, nerf2clip, clip2nerf)``: the same objects' unit
nf2vec embeddings under that member's nf2vec model (row order shared by all members) and its
two mappers. ``clip2nerf demo --ensemble K`` trains the members (``clip2nerf.evaluation.ensemble``)
and its tour uses them; ``benchmarks/bench_spread.py --ensemble K`` measures the spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from clip2nerf.errors import UserError

if TYPE_CHECKING:
    from clip2nerf.mapping import FeatureMapper


@dataclass
class EnsembleMember:
    """One independently trained nf2vec model's view of a set of NeRFs, and its mappers."""

    nerf_vectors: np.ndarray
    """(n, d) unit nf2vec embeddings of the NeRFs, in this member's nf2vec space."""
    nerf2clip: FeatureMapper | None = None
    clip2nerf: FeatureMapper | None = None


def _check(members: Sequence[EnsembleMember]) -> int:
    if not members:
        raise UserError("an ensemble needs at least one member")
    n = {len(m.nerf_vectors) for m in members}
    if len(n) != 1:
        raise UserError(f"ensemble members embed different numbers of NeRFs: {sorted(n)}")
    return n.pop()


def ensemble_vlm_embeddings(members: Sequence[EnsembleMember]) -> np.ndarray:
    """(n, vlm dim) unit mean of the members' nerf2clip outputs."""
    from clip2nerf.utils.embeddings import l2_normalize

    _check(members)
    if any(m.nerf2clip is None for m in members):
        raise UserError("every ensemble member needs a nerf2clip mapper for zero-shot labels")
    return l2_normalize(np.mean([m.nerf2clip.map(m.nerf_vectors) for m in members], axis=0))


def ensemble_zero_shot_scores(members: Sequence[EnsembleMember], prompts: np.ndarray,
                              classes: Sequence[str]) -> np.ndarray:
    """Every class's score ``(n, c)`` of the members' NeRFs: cosine between the mean of their
    nerf2clip outputs and each prompt (column j is ``classes[j]``)."""
    from clip2nerf.index import classify_1nn

    return classify_1nn(ensemble_vlm_embeddings(members), prompts, list(classes))[1]


def ensemble_zero_shot_labels(members: Sequence[EnsembleMember], prompts: np.ndarray,
                              classes: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Labels of the members' NeRFs and their scores (cosine to the chosen prompt)."""
    sims = ensemble_zero_shot_scores(members, prompts, classes)
    return [classes[j] for j in sims.argmax(axis=1)], sims.max(axis=1)


def ensemble_scores(members: Sequence[EnsembleMember], queries: np.ndarray) -> np.ndarray:
    """(q, n) mean over members of the cosine between each VLM query mapped by the member's
    clip2nerf and the member's NeRF embeddings."""
    from clip2nerf.utils.embeddings import l2_normalize

    _check(members)
    if any(m.clip2nerf is None for m in members):
        raise UserError("every ensemble member needs a clip2nerf mapper for retrieval")
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None]
    return np.mean([l2_normalize(m.clip2nerf.map(q)) @ l2_normalize(m.nerf_vectors).T
                    for m in members], axis=0)


__all__ = ["EnsembleMember", "ensemble_vlm_embeddings", "ensemble_zero_shot_labels",
           "ensemble_zero_shot_scores",
           "ensemble_scores"]
