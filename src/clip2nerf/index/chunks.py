"""Gallery rows as a stream of chunks: reading embeddings files, reducing views, validating.

Shared by the in-process gallery build (:mod:`clip2nerf.index.gallery`) and its shard tasks
(:mod:`clip2nerf.index.sharded`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.utils.embeddings import EmbeddingTable, l2_normalize

ViewReduce = Literal["mean", "all"]
Chunk = tuple[np.ndarray, Sequence[str], Sequence[str]]
"""One chunk of a streamed gallery: ``vectors: (m, d)``, m ids, m labels."""


def file_chunk(path: Path, space: str, keep: set[str] | None, views: ViewReduce
               ) -> tuple[Chunk, dict[str, str]] | None:
    """One embeddings file's gallery rows (only ``keep`` ids, views reduced) and its id ->
    NeRF file sources; None when it keeps no rows."""
    table = EmbeddingTable.load(path, space)
    if keep is not None:
        table = table.subset([i for i in table.ids if i in keep])
        if not len(table):
            return None
    src = table.extra.get("sources")
    sources = dict(zip(table.ids, map(str, src), strict=True)) \
        if isinstance(src, list) and len(src) == len(table) else {}
    return reduce_views(table, views), sources


def check_chunk(vec: np.ndarray, ids: Sequence[str], labels: Sequence[str],
                dim: int) -> np.ndarray:
    """A chunk's rows, validated and L2-normalised: (m, dim) contiguous float32."""
    x = np.asarray(vec, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise UserError(f"gallery vectors must be (n, {dim}), got a chunk of {x.shape}")
    if len(ids) != len(x) or len(labels) != len(x):
        raise UserError(f"{len(x)} gallery vectors but {len(ids)} ids, {len(labels)} labels")
    if not np.isfinite(x).all():
        raise UserError("gallery vectors contain NaN or infinity")
    zero = np.flatnonzero(~(np.abs(x) > 0).any(axis=1))
    if len(zero):
        raise UserError(f"{len(zero)} of {len(x)} gallery vectors are all zero (e.g. id "
                        f"{ids[int(zero[0])]!r}); a zero vector has no direction to search by: "
                        "re-embed those objects")
    return np.ascontiguousarray(l2_normalize(x))


def pick_rows(chunks: Iterable[Chunk], rows: np.ndarray, dim: int) -> Iterable[np.ndarray]:
    """The normalised rows ``rows`` (sorted global row numbers) of a chunk stream."""
    start = 0
    for vec, ids, labels in chunks:
        x = np.asarray(vec)
        lo, hi = np.searchsorted(rows, [start, start + len(x)])
        if hi > lo:
            sel = rows[lo:hi] - start
            yield check_chunk(x[sel], [ids[i] for i in sel], [labels[i] for i in sel], dim)
        start += len(x)


def reduce_views(table: EmbeddingTable, views: ViewReduce) -> Chunk:
    """``(rows, ids, labels)`` of a table: (n, d) as is; (n, v, d) by ``views``.

    ``mean``: one row per object, the normalised mean of its normalised views (the paper's
    "CLIP GT mean" gallery); ``all``: one row per view, all sharing the object's id ("GT all").
    """
    vec = table.vectors
    if vec.ndim == 2:
        return vec, table.ids, table.labels
    if views == "mean":
        return l2_normalize(l2_normalize(vec).mean(axis=1)), table.ids, table.labels
    n_views = vec.shape[1]
    return (vec.reshape(-1, vec.shape[-1]), [i for i in table.ids for _ in range(n_views)],
            [c for c in table.labels for _ in range(n_views)])
