"""Retrieval and classification metrics of the paper (§4 "Metrics", §5)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clip2nerf.utils.embeddings import l2_normalize
from clip2nerf.utils.recall import recall_at_k  # the one recall@k (below mapping and index)

__all__ = ["accuracy", "classify_1nn", "recall_at_k"]


def accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """Share of equal entries (multi-class accuracy)."""
    p, t = np.asarray(predicted, dtype=object), np.asarray(truth, dtype=object)
    if p.shape != t.shape or p.ndim != 1 or len(p) == 0:
        raise ValueError(f"need two equally long non-empty label lists, got {p.shape}, {t.shape}")
    return float((p == t).mean())


def classify_1nn(queries: np.ndarray, prompt_embeddings: np.ndarray, classes: Sequence[str]
                 ) -> tuple[list[str], np.ndarray]:
    """Zero-shot label: the class whose prompt embedding is most cosine-similar (paper §5).

    Args:
        queries: (q, d) e.g. nerf2clip outputs; prompt_embeddings: (c, d), row j the text
            embedding of "a 3d model of a {classes[j]}".

    Returns:
        predicted class per query (q,), and the cosine similarities (q, c).
    """
    q = np.asarray(queries, dtype=np.float32)
    p = np.asarray(prompt_embeddings, dtype=np.float32)
    if q.ndim == 1:
        q = q[None]
    if p.ndim != 2 or len(p) != len(classes) or len(p) == 0:
        raise ValueError(f"prompt_embeddings must be (c={len(classes)}, d), got {p.shape}")
    if q.ndim != 2 or q.shape[1] != p.shape[1]:
        raise ValueError(f"queries {q.shape} and prompts {p.shape} differ in dimension")
    sims = l2_normalize(q) @ l2_normalize(p).T
    return [classes[j] for j in sims.argmax(axis=1)], sims
