"""A gallery: L2-normalised vectors with ids and labels, searched by cosine with faiss.

Cosine similarity is the inner product of unit vectors, so the index is a faiss
``IndexFlatIP`` (exact) or, for large galleries, an ``IndexIVFFlat`` with the inner-product
metric (approximate: only ``nprobe`` of ``nlist`` clusters are scanned per query).

On disk a gallery is a folder: ``index.faiss`` (faiss's own format) and ``gallery.json``
(format, space, dim, ids, labels). ``Gallery.load(..., mmap=True)`` opens the index with
faiss's ``IO_FLAG_MMAP``: for an IVF gallery the inverted lists stay on disk and only the
probed lists are paged in, so a gallery larger than memory can be searched (measured with
faiss 1.15: loading a 50k x 1024 IVF gallery added 0 MB resident vs 187 MB when read). A flat
index is read into memory even with the flag, so galleries that outgrow RAM should be IVF
(``benchmarks/bench_gallery.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.utils.embeddings import EmbeddingTable, l2_normalize
from clip2nerf.utils.io import atomic_dir, atomic_write_json, read_json

GALLERY_FORMAT = "clip2nerf-gallery"
GALLERY_VERSION = 1
INDEX_NAME = "index.faiss"
META_NAME = "gallery.json"

IndexKind = Literal["flat", "ivf"]
ViewReduce = Literal["mean", "all"]


@dataclass
class GalleryConfig:
    """How the faiss index is built."""

    kind: IndexKind = "flat"
    """``flat``: exact search. ``ivf``: inverted lists, approximate, for large galleries."""
    nlist: int | None = None
    """IVF clusters; default ``4 * sqrt(n)`` (faiss's rule of thumb), at most n / 39."""
    nprobe: int = 8
    """IVF clusters scanned per query: higher is slower and closer to exact."""
    seed: int = 0
    """Seed of the IVF k-means."""

    FIELD_BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "nlist": (1, 1 << 20), "nprobe": (1, 1 << 20), "seed": (0, 2**32 - 1)}
    """Ranges checked here and when read from ``gallery.json``."""

    def __post_init__(self) -> None:
        if self.nlist is not None and not 1 <= self.nlist <= (1 << 20):
            raise UserError(f"--nlist {self.nlist}: must be between 1 and {1 << 20}")
        if not 1 <= self.nprobe <= (1 << 20):
            raise UserError(f"--nprobe {self.nprobe}: must be between 1 and {1 << 20}")


@dataclass
class Gallery:
    """Searchable vectors. ``ids[i]`` / ``labels[i]`` describe row ``i`` of the index.

    Several rows may share an id (a gallery of all views of each object); excluding an id
    removes all of its rows.
    """

    index: Any
    ids: list[str]
    labels: list[str]
    space: str
    config: GalleryConfig = field(default_factory=GalleryConfig)
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, ids: Sequence[str], labels: Sequence[str],
                     space: str, config: GalleryConfig | None = None,
                     extra: dict[str, Any] | None = None) -> Gallery:
        """Build from ``vectors: (n, d)``; rows are L2-normalised here."""
        import faiss

        config = config or GalleryConfig()
        raw = np.asarray(vectors, dtype=np.float32)
        if raw.ndim == 2 and len(raw) and np.isfinite(raw).all():
            zero = np.flatnonzero(~(np.abs(raw) > 0).any(axis=1))
            if len(zero):
                raise UserError(f"{len(zero)} of {len(raw)} gallery vectors are all zero (e.g. id "
                                f"{ids[int(zero[0])]!r}); a zero vector has no direction to "
                                "search by: re-embed those objects")
        x = np.ascontiguousarray(l2_normalize(raw))
        if x.ndim != 2 or len(x) == 0:
            raise UserError(f"gallery vectors must be a non-empty (n, d) array, got {x.shape}")
        if len(ids) != len(x) or len(labels) != len(x):
            raise UserError(f"{len(x)} gallery vectors but {len(ids)} ids, {len(labels)} labels")
        if not np.isfinite(x).all():
            raise UserError("gallery vectors contain NaN or infinity")
        n, d = x.shape
        index: Any
        if config.kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif config.kind == "ivf":
            nlist = config.nlist or max(1, min(int(4 * np.sqrt(n)), n // 39))
            if nlist > n:
                raise UserError(f"--nlist {nlist}: larger than the gallery ({n} vectors)")
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = config.seed
            index.train(x)
            index.nprobe = min(config.nprobe, nlist)
            config = GalleryConfig("ivf", nlist, config.nprobe, config.seed)
        else:
            raise UserError(f"gallery kind {config.kind!r}: expected flat or ivf")
        index.add(x)
        return cls(index, [str(i) for i in ids], [str(c) for c in labels], space, config,
                   dict(extra or {}))

    @classmethod
    def from_table(cls, table: EmbeddingTable, views: ViewReduce = "mean",
                   config: GalleryConfig | None = None) -> Gallery:
        """From an (n, d) table, or an (n, v, d) per-view table reduced by ``views``.

        ``mean``: one row per object, the normalised mean of its normalised views (the paper's
        "CLIP GT mean" gallery); ``all``: one row per view, all sharing the object's id ("GT all").
        """
        vec = table.vectors
        ids, labels = table.ids, table.labels
        if len(set(ids)) != len(ids):
            dup = next(i for i, c in Counter(ids).items() if c > 1)
            raise UserError(f"embeddings list id {dup!r} more than once; a gallery needs one "
                            "row per object (use --views all for per-view rows)")
        if vec.ndim == 3:
            if views == "mean":
                vec = l2_normalize(l2_normalize(vec).mean(axis=1))
            elif views == "all":
                n_views = vec.shape[1]
                vec = vec.reshape(-1, vec.shape[-1])
                ids = [i for i in table.ids for _ in range(n_views)]
                labels = [c for c in table.labels for _ in range(n_views)]
            else:
                raise UserError(f"--views {views!r}: expected mean or all")
        extra: dict[str, Any] = {"views": views} if table.vectors.ndim == 3 else {}
        sources = table.extra.get("sources")
        if isinstance(sources, list) and len(sources) == len(table):
            # id -> NeRF file, so that applications can render what they retrieve.
            extra["sources"] = dict(zip(table.ids, map(str, sources), strict=True))
        return cls.from_vectors(vec, ids, labels, table.space, config, extra)

    def check_space(self, space: str | None, dim: int | None = None) -> None:
        """Refuse queries embedded in another space than the gallery's."""
        if space is not None and space != self.space:
            raise UserError(f"queries are {space!r} embeddings but the gallery holds "
                            f"{self.space!r}; map or embed them into the gallery's space")
        if dim is not None and dim != self.dim:
            raise UserError(f"queries have {dim} dims but the gallery ({self.space}) has "
                            f"{self.dim}")

    def search(self, queries: np.ndarray, k: int,
               exclude_ids: Sequence[str | Sequence[str] | None] | None = None,
               space: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest rows by cosine similarity, best first.

        Args:
            queries: (q, d) or (d,); normalised here.
            k: neighbours wanted. The result has ``k_eff = min(k, n - r)`` columns, where ``r``
                is the largest number of rows any query excludes, so every row is full.
            exclude_ids: per query, an id (or ids, or None) whose rows are removed from its
                results — the paper's "exclude the queried NeRF from the gallery".
            space: the queries' space; refused if it is not the gallery's.

        Returns:
            ids: (q, k_eff) array of str; scores: (q, k_eff) float32 cosine similarities.
            For an IVF gallery a row may have fewer true hits than ``k_eff`` (too few scanned
            clusters); the gap is filled with id ``""`` and score ``-inf``.
        """
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None]
        self.check_space(space, q.shape[-1] if q.ndim == 2 else None)
        if q.ndim != 2:
            raise UserError(f"queries must be (q, d), got {q.shape}")
        if not np.isfinite(q).all():
            raise UserError("queries contain NaN or infinity")
        if k < 1:
            raise UserError(f"k={k}: must be at least 1")
        q = np.ascontiguousarray(l2_normalize(q))
        excl = self._exclusions(exclude_ids, len(q))
        counts = Counter(self.ids)
        removed = [sum(counts[i] for i in e) for e in excl]
        most = max(removed, default=0)
        k_eff = min(k, len(self) - most)
        if k_eff < 1:
            raise UserError("the gallery has no rows left once the excluded ids are removed")
        scores, rows = self.index.search(q, min(len(self), k_eff + most))
        ids_arr = np.asarray(self.ids, dtype=object)
        out_ids = np.full((len(q), k_eff), "", dtype=object)
        out_scores = np.full((len(q), k_eff), -np.inf, dtype=np.float32)
        for r in range(len(q)):
            keep = [(row, s) for row, s in zip(rows[r], scores[r], strict=True)
                    if row >= 0 and ids_arr[row] not in excl[r]][:k_eff]
            for c, (row, s) in enumerate(keep):
                out_ids[r, c] = ids_arr[row]
                out_scores[r, c] = s
        return out_ids, out_scores

    def recall(self, queries: np.ndarray, query_ids: Sequence[str], query_labels: Sequence[str],
               ks: Sequence[int] = (1, 5, 10), exclude_self: bool = True,
               space: str | None = None) -> dict[int, float]:
        """recall@k of ``queries: (q, d)`` by class (paper §4), each query's own object excluded.

        ``query_ids[i]`` is the object query ``i`` was made from; with ``exclude_self`` its rows
        are removed from the gallery for that query, as in the paper.
        """
        from clip2nerf.index.metrics import recall_at_k

        if len(query_ids) != len(queries) or len(query_labels) != len(queries):
            raise UserError(f"{len(queries)} queries but {len(query_ids)} ids and "
                            f"{len(query_labels)} labels")
        ids, _ = self.search(queries, max(ks), list(query_ids) if exclude_self else None, space)
        return recall_at_k(query_labels, self.labels_of(ids), ks)

    def labels_of(self, ids: np.ndarray) -> np.ndarray:
        """Class labels of an id array (any shape); ``""`` stays ``""``."""
        lookup = dict(zip(self.ids, self.labels, strict=True))
        lookup[""] = ""
        return np.vectorize(lookup.__getitem__, otypes=[object])(ids)

    @staticmethod
    def _exclusions(exclude_ids, n_queries: int) -> list[frozenset[str]]:
        if exclude_ids is None:
            return [frozenset()] * n_queries
        if isinstance(exclude_ids, str) or len(exclude_ids) != n_queries:
            raise UserError(f"exclude_ids must hold one entry per query ({n_queries})")
        out: list[frozenset[str]] = []
        for e in exclude_ids:
            if e is None:
                out.append(frozenset())
            elif isinstance(e, str):
                out.append(frozenset([e]))
            else:
                out.append(frozenset(str(i) for i in e))
        return out

    @property
    def nbytes(self) -> int:
        """Size of the serialised faiss index in bytes (the gallery's memory cost)."""
        import faiss

        return int(faiss.serialize_index(self.index).nbytes)

    def save(self, folder: str | Path, overwrite: bool = False) -> None:
        """Write the gallery folder atomically (a reader never sees half a gallery)."""
        import faiss

        folder = Path(folder)
        if folder.exists() and not overwrite:
            raise UserError(f"{folder} exists; pass --overwrite to replace it")
        with atomic_dir(folder, overwrite=overwrite) as tmp:
            faiss.write_index(self.index, str(tmp / INDEX_NAME))
            atomic_write_json(tmp / META_NAME, {
                "format": GALLERY_FORMAT, "version": GALLERY_VERSION, "space": self.space,
                "dim": self.dim, "n": len(self), "metric": "cosine",
                "config": {"kind": self.config.kind, "nlist": self.config.nlist,
                           "nprobe": self.config.nprobe, "seed": self.config.seed},
                "ids": self.ids, "labels": self.labels, "extra": self.extra})

    @classmethod
    def load(cls, folder: str | Path, expect_space: str | None = None,
             mmap: bool = False) -> Gallery:
        """Read and validate a gallery folder; ``mmap`` maps an IVF index's lists from disk."""
        import faiss

        folder = Path(folder)
        meta = read_json(folder / META_NAME, "gallery metadata")
        if not isinstance(meta, dict) or meta.get("format") != GALLERY_FORMAT:
            raise UserError(f"{folder} is not a clip2nerf gallery (no valid {META_NAME})")
        from clip2nerf.utils.embeddings import format_version

        if format_version(meta.get("version", 0), f"{folder / META_NAME}: version") > GALLERY_VERSION:
            raise UserError(f"{folder}: gallery version {meta['version']} is newer than this "
                            "clip2nerf; upgrade clip2nerf")
        path = folder / INDEX_NAME
        if not path.is_file():
            raise UserError(f"gallery index not found: {path}")
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index: Any
        try:
            index = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            raise UserError(f"{path}: corrupt faiss index ({str(exc).splitlines()[0]})") from None
        from clip2nerf.utils.validate import dataclass_from_dict, int_in, require_dict, str_list

        try:
            ids, labels = str_list(meta["ids"], "ids"), str_list(meta["labels"], "labels")
            cfg = dataclass_from_dict(GalleryConfig, meta["config"], "config")
            if not isinstance(meta["space"], str):
                raise ValueError("space: must be a string")
            space, dim = meta["space"], int_in(meta["dim"], "dim", 1, 1 << 16)
            extra = require_dict(meta.get("extra", {}), "extra")
        except KeyError as exc:
            raise UserError(f"{folder / META_NAME}: incomplete gallery metadata (no {exc})") from None
        except (TypeError, ValueError) as exc:
            raise UserError(f"{folder / META_NAME}: bad gallery metadata ({exc})") from None
        is_ivf = faiss.try_extract_index_ivf(index) is not None
        if is_ivf != (cfg.kind == "ivf"):
            raise UserError(f"{folder / META_NAME}: says kind {cfg.kind!r} but {INDEX_NAME} is "
                            f"{'an IVF' if is_ivf else 'a flat'} index; rebuild the gallery "
                            "with `clip2nerf index`")
        if index.ntotal != len(ids) or len(labels) != len(ids):
            raise UserError(f"{folder}: index holds {index.ntotal} vectors but metadata lists "
                            f"{len(ids)} ids and {len(labels)} labels")
        if index.d != dim or index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise UserError(f"{folder}: index is not a {dim}-d inner-product index")
        if cfg.kind == "ivf":
            index.nprobe = min(cfg.nprobe, index.nlist)
        gallery = cls(index, ids, labels, space, cfg, dict(extra))
        if expect_space is not None:
            gallery.check_space(expect_space)
        return gallery
