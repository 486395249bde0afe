"""Retrieval and classification metrics of the paper (§4 "Metrics", §5)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clip2nerf.utils.embeddings import l2_normalize


def recall_at_k(query_labels: Sequence[str], retrieved_labels: np.ndarray,
                ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """Share of queries with at least one of their first k neighbours in their class.

    Args:
        query_labels: (q,) class of each query.
        retrieved_labels: (q, width) classes of each query's neighbours, best first.
        ks: cut-offs; each must be <= width (a silent clamp would overstate the cut-off).

    Returns:
        {k: recall in [0, 1]}.
    """
    ql = np.asarray(query_labels, dtype=object)
    rl = np.asarray(retrieved_labels, dtype=object)
    if rl.ndim != 2 or len(rl) != len(ql):
        raise ValueError(f"retrieved_labels must be (q={len(ql)}, width), got {rl.shape}")
    if len(ql) == 0:
        raise ValueError("recall@k of zero queries is undefined")
    hits = rl == ql[:, None]
    out = {}
    for k in ks:
        if not 1 <= k <= rl.shape[1]:
            raise ValueError(f"recall@{k} needs at least {k} neighbours per query, "
                             f"got {rl.shape[1]}")
        out[int(k)] = float(hits[:, :k].any(axis=1).mean())
    return out


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
