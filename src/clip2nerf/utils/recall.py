"""Recall@k by class, the paper's retrieval metric (§4 "Metrics"), with the query's own object
excluded from its neighbours — the one implementation behind ``index`` (galleries, the
evaluation's tables), ``mapping`` (validation during training) and the benchmarks.

A query is a hit at k when one of its first k neighbours, other than its own object, has its
class. How the neighbours are found differs (a faiss gallery searched with the query's id
excluded, or a dense score matrix whose own-object entries are masked here); the metric is
:func:`recall_at_k` on the neighbours' labels either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

TooWide = Literal["error", "omit"]


def reachable_ks(ks: Sequence[int], width: int) -> tuple[int, ...]:
    """The cut-offs of ``ks`` that ``width`` neighbours per query can answer."""
    return tuple(int(k) for k in ks if 1 <= k <= width)


def recall_at_k(query_labels: Sequence[str], retrieved_labels: np.ndarray,
                ks: Sequence[int] = (1, 5, 10), too_wide: TooWide = "error",
                ) -> dict[int, float]:
    """Share of queries with at least one of their first k neighbours in their class.

    Args:
        query_labels: (q,) class of each query.
        retrieved_labels: (q, width) classes of each query's neighbours, best first (the
            query's own object already left out).
        ks: cut-offs.
        too_wide: a k wider than ``width`` (a gallery with fewer than k objects besides the
            query's own): ``"error"`` raises ``ValueError`` (a silent clamp would report
            recall@width as recall@k); ``"omit"`` leaves that k out of the result, which
            tables show as "-".

    Returns:
        {k: recall in [0, 1]} for every k (``"omit"``: every k <= width).
    """
    ql = np.asarray(query_labels, dtype=object)
    rl = np.asarray(retrieved_labels, dtype=object)
    if rl.ndim != 2 or len(rl) != len(ql):
        raise ValueError(f"retrieved_labels must be (q={len(ql)}, width), got {rl.shape}")
    if len(ql) == 0:
        raise ValueError("recall@k of zero queries is undefined")
    if too_wide == "omit":
        ks = reachable_ks(ks, rl.shape[1])
    hits = rl == ql[:, None]
    out = {}
    for k in ks:
        if not 1 <= k <= rl.shape[1]:
            raise ValueError(f"recall@{k} needs at least {k} neighbours per query, "
                             f"got {rl.shape[1]}")
        out[int(k)] = float(hits[:, :k].any(axis=1).mean())
    return out


def nearest_others(scores: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """(q, k) gallery rows of the highest ``scores: (q, n)``, best first, with each query's own
    row ``own[i]`` left out; ties keep gallery order (row 0 first)."""
    s = np.array(scores, dtype=np.float64 if scores.dtype == np.float64 else np.float32)
    s[np.arange(len(s)), np.asarray(own)] = -np.inf
    if not 1 <= k < s.shape[1]:
        raise ValueError(f"{k} neighbours besides the query's own of a {s.shape[1]}-row gallery")
    if k == 1:
        return s.argmax(axis=1)[:, None]
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def dense_recall_at_k(queries: np.ndarray, gallery: np.ndarray, own: np.ndarray,
                      labels: Sequence[str], ks: Sequence[int] = (1,),
                      answerable_only: bool = False,
                      chunk_rows: int = 4096) -> dict[int, float]:
    """recall@k by cosine similarity against a small in-memory gallery of objects.

    Args:
        queries: (q, d); gallery: (n, d), one row per object.
        own: (q,) gallery row of each query's own object (excluded).
        labels: (n,) class of each gallery object; a query's class is its own object's.
        answerable_only: count only queries whose class has another object in the gallery
            (the others cannot be right); NaN when there are none.
        chunk_rows: queries scored at a time. The (q, n) score matrix grows with the square
            of the objects (every view of 4,000 val objects against them: 2.3 GB), a chunk's
            does not; the neighbours, and so the result, are the same.
    """
    lab = np.asarray(labels, dtype=object)
    own = np.asarray(own)
    rows = np.arange(len(own))
    if answerable_only:
        classes, counts = np.unique(lab, return_counts=True)
        rows = rows[np.isin(lab[own], classes[counts > 1])]
        if not len(rows):
            return {int(k): float("nan") for k in ks}
    g = _unit_rows(np.asarray(gallery))
    nearest = np.concatenate([
        nearest_others(_unit_rows(np.asarray(queries[part])) @ g.T, own[part], max(ks))
        for part in np.array_split(rows, max(1, -(-len(rows) // chunk_rows)))])
    return recall_at_k(lab[own[rows]], lab[nearest], ks)
