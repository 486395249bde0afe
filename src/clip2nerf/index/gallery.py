"""A gallery: L2-normalised vectors with ids and labels, searched by cosine with faiss.

Cosine similarity is the inner product of unit vectors. Index kinds (``GalleryConfig.kind``):

- ``flat``: ``IndexFlatIP``, exact, a full scan (float32 in memory: 4 KB per 1024-d row).
- ``ivf``: ``IndexIVFFlat``, approximate: only ``nprobe`` of ``nlist`` clusters are scanned.
- ``ivf-sq8``: ``IndexIVFScalarQuantizer`` with 8-bit codes of the residuals (1 byte per
  dimension, a quarter of ``ivf``'s size) — the kind for galleries past memory.
- ``ivf-sq6``: the same with 6-bit codes (768 bytes per 1024-d row): for the largest
  galleries, whose served resident set is mostly the probed codes (see :func:`auto_kind`).
- ``auto`` (the CLI default): ``flat`` up to ``AUTO_FLAT_MAX`` rows, ``ivf-sq8`` up to
  ``AUTO_SQ8_MAX``, else ``ivf-sq6``.

The choice of ``ivf-sq8`` and the ``auto`` threshold come from ``benchmarks/bench_gallery.py``
(table in benchmarks/README.md; 1024-d clustered vectors, a shared 2-core machine, one faiss
thread per query): IVF-SQ8 with the default ``nlist = 4 sqrt(n)`` and ``nprobe = 8`` answered
a single query in 0.5 ms (p50) at 100k and 1.1 ms at 1M, recall@10 against exact 0.99, from a
file of 1 KB per row (1.0 GB at 1M) that is memory-mapped when served; an exact flat scan took
53 ms per query at 100k. IVF-PQ (M=128 bytes) lost recall (0.73) unless re-ranked from a
float16 copy twice the size of the SQ8 codes, and trained 4x slower. IVF galleries are built
in a streaming pass (:meth:`Gallery.from_chunks`, :meth:`Gallery.from_embeddings`): train on
a sample, then add chunk by chunk, so a gallery is built from a shard folder without the whole
float32 matrix in memory (peak 2.5 GB for 1M rows, whose float32 matrix is 4 GB).

On disk a gallery is a folder: ``index.faiss`` (faiss's own format) and ``gallery.json``
(format, space, dim, ids, labels). ``Gallery.load`` memory-maps IVF indexes (``ivf``,
``ivf-sq8``, ``ivf-sq6``) with faiss's ``IO_FLAG_MMAP``: the inverted lists stay in the file and only the
probed lists are paged in (as page cache the kernel may drop), so a gallery larger than RAM
can be searched. A flat index is read into memory even with the flag (faiss maps only
inverted lists with ``IO_FLAG_MMAP``), so galleries that outgrow RAM should be IVF.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.index.chunks import (
    Chunk,
    ViewReduce,
    check_chunk,
    file_chunk,
    pick_rows,
    reduce_views,
)
from clip2nerf.utils import bounds
from clip2nerf.utils.bounds import Bound
from clip2nerf.utils.embeddings import EmbeddingTable, embedding_files, l2_normalize, read_header
from clip2nerf.utils.io import atomic_dir, atomic_write_json, read_json
from clip2nerf.utils.recall import TooWide
from clip2nerf.utils.validate import parse_json, schema

GALLERY_FORMAT = "clip2nerf-gallery"
GALLERY_VERSION = 1
INDEX_NAME = "index.faiss"
META_NAME = "gallery.json"

IndexKind = Literal["auto", "flat", "ivf", "ivf-sq8", "ivf-sq6"]
"""``auto`` and the names of :data:`GALLERY_KINDS` (a test checks they agree)."""
AUTO_FLAT_MAX = 10_000
"""``auto`` builds an exact flat index up to this many rows and ``ivf-sq8`` above it: a flat
scan costs ~0.5 ms per 1,000 rows of 1024 dims per query on a busy 2-core machine (12.5 ms at
20k, 53 ms at 100k), so past ~10k rows IVF-SQ8 (~1 ms, recall@10 0.99) is the faster choice."""
AUTO_SQ8_MAX = 500_000
"""``auto`` builds ``ivf-sq8`` up to this many rows and ``ivf-sq6`` above it (see
:func:`auto_kind`)."""
TRAIN_PER_LIST = 40
"""IVF training sample: this many rows per cluster (faiss warns below 39), at most n."""


@dataclass(frozen=True)
class GalleryKind:
    """One kind of faiss index a gallery can be: how it is built, checked and loaded.

    Every index is an inner-product index over unit vectors (cosine similarity).
    """

    name: str
    """The kind's name, as in ``GalleryConfig.kind``, ``gallery.json`` and ``--kind``."""
    ivf: bool
    """Inverted lists (``IndexIVF*``): trained on a sample, searched over ``nprobe`` of
    ``nlist`` clusters, memory-mapped by :meth:`Gallery.load` by default."""
    sq_type: str | None = None
    """The ``faiss.ScalarQuantizer`` code of an IVF kind's residuals (``"QT_8bit"``: 1 byte
    per dimension), or None for float32 rows."""
    auto_max_rows: float | None = None
    """``auto`` picks the first kind (in table order) whose limit ``n`` does not exceed;
    None: never picked by ``auto``."""

    @property
    def mmap(self) -> bool:
        """Whether :meth:`Gallery.load` memory-maps the index by default (IVF kinds only:
        faiss maps only inverted lists)."""
        return self.ivf

    def new_index(self, dim: int, nlist: int | None = None) -> Any:
        """An empty (untrained, for IVF kinds) faiss index of this kind.

        Args:
            dim: the vectors' dimension.
            nlist: IVF clusters (required for IVF kinds, ignored otherwise).
        """
        import faiss

        if not self.ivf:
            return faiss.IndexFlatIP(dim)
        if nlist is None:
            raise ValueError(f"gallery kind {self.name!r} needs nlist")
        quantizer = faiss.IndexFlatIP(dim)
        if self.sq_type is None:
            return faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        return faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, self.faiss_sq_type(),
                                             faiss.METRIC_INNER_PRODUCT)

    def faiss_sq_type(self) -> int | None:
        """The faiss constant of :attr:`sq_type` (None for kinds without scalar codes)."""
        import faiss

        return None if self.sq_type is None else getattr(faiss.ScalarQuantizer, self.sq_type)

    def matches(self, index: Any) -> str | None:
        """Why a loaded faiss ``index`` is not of this kind, e.g. ``"is a flat index"`` (None
        when it is).

        Args:
            index: an index read by faiss.
        """
        import faiss

        is_ivf = faiss.try_extract_index_ivf(index) is not None
        if is_ivf != self.ivf:
            return f"is {'an IVF' if is_ivf else 'a flat'} index"
        if self.sq_type is not None and \
                getattr(getattr(index, "sq", None), "qtype", None) != self.faiss_sq_type():
            return "holds other codes"
        return None


GALLERY_KINDS: dict[str, GalleryKind] = {k.name: k for k in (
    GalleryKind("flat", ivf=False, auto_max_rows=AUTO_FLAT_MAX),
    GalleryKind("ivf", ivf=True),
    GalleryKind("ivf-sq8", ivf=True, sq_type="QT_8bit", auto_max_rows=AUTO_SQ8_MAX),
    GalleryKind("ivf-sq6", ivf=True, sq_type="QT_6bit", auto_max_rows=float("inf")),
)}
"""Every index kind, by name: ``flat`` (exact scan), ``ivf`` (float32 inverted lists),
``ivf-sq8`` / ``ivf-sq6`` (8-bit / 6-bit scalar codes of the residuals). The one place a
kind is defined: building, ``auto``, loading checks and ``--kind`` read it."""
KINDS = ("auto", *GALLERY_KINDS)
"""The values of ``GalleryConfig.kind`` and ``clip2nerf index --kind``."""


@schema
@dataclass
class GalleryConfig:
    """How the faiss index is built."""

    kind: IndexKind = "flat"
    """``flat``: exact search. ``ivf``: inverted lists, approximate, for large galleries.
    ``ivf-sq8``: inverted lists of 8-bit codes, for galleries past memory (``ivf-sq6``: 6-bit
    codes). ``auto``: flat up to ``AUTO_FLAT_MAX`` rows, ivf-sq8 up to ``AUTO_SQ8_MAX``, else
    ivf-sq6 (resolved at build time; a saved gallery records the kind it got)."""
    nlist: bounds.NLIST.field | None = None
    """IVF clusters; default ``4 * sqrt(n)`` (faiss's rule of thumb), at most n / 39."""
    nprobe: bounds.NPROBE.field = 8
    """IVF clusters scanned per query: higher is slower and closer to exact."""
    seed: bounds.SEED.field = 0
    """Seed of the IVF k-means."""


@schema
@dataclass
class GalleryHeader:
    """The schema of ``gallery.json`` (``Gallery.save`` writes it, ``Gallery.load`` checks
    it with ``clip2nerf.utils.validate.parse``)."""

    format: Literal["clip2nerf-gallery"]
    version: Bound(int, 0).field
    space: str
    dim: Bound(int, 1, 1 << 16).field
    config: GalleryConfig
    ids: list[str]
    labels: list[str]
    n: Bound(int, 0).field | None = None
    metric: Literal["cosine"] = "cosine"
    extra: dict[str, Any] = field(default_factory=dict)


def _read_header(folder: Path) -> GalleryHeader:
    """``gallery.json`` of ``folder``, validated straight from its text: a million-row gallery's
    ids are parsed once (about 0.5 s) instead of loaded, dumped and parsed again. Only a file
    that fails gets the checks that explain it (not a gallery, or one newer than this code)."""
    meta_path = folder / META_NAME
    try:
        text = meta_path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"gallery metadata not found: {meta_path}") from None
    try:
        header = parse_json(GalleryHeader, text, "", UserError, where=str(meta_path))
    except UserError as schema_error:
        meta = read_json(meta_path, "gallery metadata")
        if not isinstance(meta, dict) or meta.get("format") != GALLERY_FORMAT:
            raise UserError(f"{folder} is not a clip2nerf gallery (no valid {META_NAME})") from None
        from clip2nerf.utils.embeddings import format_version

        if format_version(meta.get("version", 0), f"{meta_path}: version") > GALLERY_VERSION:
            raise UserError(f"{folder}: gallery version {meta['version']} is newer than this "
                            "clip2nerf; upgrade clip2nerf") from None
        raise schema_error from None
    if header.version > GALLERY_VERSION:
        raise UserError(f"{folder}: gallery version {header.version} is newer than this "
                        "clip2nerf; upgrade clip2nerf")
    return header


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
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                   compare=False)

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
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or len(x) == 0:
            raise UserError(f"gallery vectors must be a non-empty (n, d) array, got {x.shape}")
        if len(ids) != len(x) or len(labels) != len(x):
            raise UserError(f"{len(x)} gallery vectors but {len(ids)} ids, {len(labels)} labels")
        return cls.from_chunks(lambda: [(x, ids, labels)], len(x), x.shape[1], space, config,
                               extra)

    @classmethod
    def from_chunks(cls, chunks: Callable[[], Iterable[Chunk]], n: int, dim: int, space: str,
                    config: GalleryConfig | None = None,
                    extra: dict[str, Any] | None = None,
                    encoded: Callable[[Any], Iterable[Chunk]] | None = None) -> Gallery:
        """Build in a streaming pass: at most one chunk (and the IVF training sample) in memory.

        Args:
            chunks: called once per pass (twice for IVF kinds: sample, then add); each call
                yields the same ``(vectors: (m, d), ids, labels)`` chunks in the same order,
                ``n`` rows in all. Rows are L2-normalised here.
            n: total rows.
            dim: their dimension.

        For IVF kinds the training sample is ``TRAIN_PER_LIST * nlist`` rows (at most n) drawn
        uniformly with ``config.seed``; the rest of the gallery never sits in memory as float32.

        ``encoded``: when given, called once with the trained, empty index; it yields the
        rows already encoded (``index.sa_encode`` codes of the normalised rows, e.g. by shard
        tasks: :mod:`clip2nerf.index.sharded`) in the chunks' order, which are appended with
        ``add_sa_codes``: the same index as adding the rows here.
        """
        config = config or GalleryConfig()
        if n < 1:
            raise UserError("the gallery would be empty: no embeddings to index")
        kind = config.kind
        if kind == "auto":
            kind = auto_kind(n)
        spec = GALLERY_KINDS.get(kind) if isinstance(kind, str) else None
        if spec is None:
            raise UserError(f"gallery kind {config.kind!r}: expected one of {', '.join(KINDS)}")
        nlist: bounds.NLIST.field | None = None
        if not spec.ivf:
            index = spec.new_index(dim)
        else:
            nlist = config.nlist or max(1, min(int(4 * np.sqrt(n)), n // 39))
            if nlist > n:
                raise UserError(f"--nlist {nlist}: larger than the gallery ({n} vectors)")
            index = spec.new_index(dim, nlist)
            index.cp.seed = config.seed
            m = min(n, TRAIN_PER_LIST * nlist)
            rows = np.sort(np.random.default_rng(config.seed).choice(n, m, replace=False))
            sample = np.concatenate(list(pick_rows(chunks(), rows, dim)))
            if len(sample) != m:
                raise UserError(f"the gallery's chunks hold fewer than the {n} rows announced")
            index.train(np.ascontiguousarray(sample))
            del sample
            index.nprobe = min(config.nprobe, nlist)
        all_ids: list[str] = []
        all_labels: list[str] = []
        for vec, cids, clabels in (chunks() if encoded is None else encoded(index)):
            if encoded is None:
                index.add(check_chunk(vec, cids, clabels, dim))
            else:
                index.add_sa_codes(np.ascontiguousarray(vec, dtype=np.uint8))
            all_ids += [str(i) for i in cids]
            all_labels += [str(c) for c in clabels]
        if len(all_ids) != n:
            raise UserError(f"the gallery's chunks hold {len(all_ids)} rows, not the {n} "
                            "announced")
        config = GalleryConfig(kind, nlist, config.nprobe, config.seed)
        return cls(index, all_ids, all_labels, space, config, dict(extra or {}))

    @classmethod
    def from_embeddings(cls, path: str | Path, views: ViewReduce = "mean",
                        config: GalleryConfig | None = None,
                        only_ids: Sequence[str] | None = None,
                        expect_space: str | None = None, executor: Any = None,
                        parts: str | Path | None = None) -> Gallery:
        """Stream an embeddings file or shard folder into a gallery, one shard in memory at a time.

        Rows keep the shards' order; ``only_ids`` keeps just those objects (a missing one is a
        UserError naming it). Per-view shards are reduced by ``views`` as in :meth:`from_table`.
        With ``executor`` (an ``ExecutorConfig``) the shard files are normalised and encoded by
        shard tasks (local or Ray) into ``parts`` (a folder; finished parts are reused by a
        rerun) and the index appends their codes: :mod:`clip2nerf.index.sharded`.
        """
        if views not in ("mean", "all"):
            raise UserError(f"--views {views!r}: expected mean or all")
        headers = [read_header(p) for p in embedding_files(path)]
        spaces = {h.space for h in headers}
        if len(spaces) != 1:
            raise UserError(f"{path}: shards of different spaces: {sorted(spaces)}")
        space = headers[0].space
        if expect_space is not None and space != expect_space:
            raise UserError(f"{path} holds embeddings of {space!r}, but {expect_space!r} is in "
                            "use; re-embed with the current model")
        dims = {h.shape[-1] for h in headers}
        ndims = {len(h.shape) for h in headers}
        if len(dims) != 1 or len(ndims) != 1:
            raise UserError(f"{path}: shards disagree on the vectors' shape")
        seen: set[str] = set()
        for h in headers:
            if len(set(h.ids)) != len(h.ids) or seen.intersection(h.ids):
                dup = next(i for i, c in Counter([*seen, *h.ids]).items() if c > 1)
                raise UserError(f"{h.path}: id {dup!r} is listed more than once (in this shard or "
                                "an earlier one); a gallery needs one row per object")
            seen.update(h.ids)
        keep = None if only_ids is None else set(map(str, only_ids))
        if keep is not None:
            missing = [i for i in only_ids or [] if str(i) not in seen]
            if missing:
                raise UserError(f"ids not in embedding table ({space}): "
                                f"{', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
        per_view = ndims == {3}
        n = 0
        for h in headers:
            n_obj = len(h.ids) if keep is None else sum(i in keep for i in h.ids)
            n += n_obj * (h.shape[1] if per_view and views == "all" else 1)
        extra: dict[str, Any] = {"views": views} if per_view else {}
        sources: dict[str, str] = {}

        def chunks() -> Iterable[Chunk]:
            for h in headers:
                got = file_chunk(h.path, space, keep, views)
                if got is not None:
                    sources.update(got[1])
                    yield got[0]

        encoded = None
        if executor is not None:
            from clip2nerf.index.sharded import encoded_chunks

            def encoded(index: Any) -> Iterable[Chunk]:
                return encoded_chunks(index, [h.path for h in headers], space, keep, views,
                                      executor, parts, sources)

        gallery = cls.from_chunks(chunks, n, dims.pop(), space, config, extra, encoded)
        if len(sources) == len(set(gallery.ids)):
            gallery.extra["sources"] = sources
        return gallery

    @classmethod
    def from_table(cls, table: EmbeddingTable, views: ViewReduce = "mean",
                   config: GalleryConfig | None = None) -> Gallery:
        """From an (n, d) table, or an (n, v, d) per-view table reduced by ``views``.

        ``mean``: one row per object, the normalised mean of its normalised views (the paper's
        "CLIP GT mean" gallery); ``all``: one row per view, all sharing the object's id ("GT all").
        """
        if len(set(table.ids)) != len(table.ids):
            dup = next(i for i, c in Counter(table.ids).items() if c > 1)
            raise UserError(f"embeddings list id {dup!r} more than once; a gallery needs one "
                            "row per object (use --views all for per-view rows)")
        if views not in ("mean", "all"):
            raise UserError(f"--views {views!r}: expected mean or all")
        vec, ids, labels = reduce_views(table, views)
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
        most = 0
        if any(excl):
            counts = self._rows_per_id
            most = max(sum(counts[i] for i in e) for e in excl)
        k_eff = min(k, len(self) - most)
        if k_eff < 1:
            raise UserError("the gallery has no rows left once the excluded ids are removed")
        scores, rows = self.index.search(q, min(len(self), k_eff + most))
        ids_arr = self._id_array
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
               space: str | None = None, too_wide: TooWide = "error") -> dict[int, float]:
        """recall@k of ``queries: (q, d)`` by class (paper §4), each query's own object excluded.

        ``query_ids[i]`` is the object query ``i`` was made from; with ``exclude_self`` its rows
        are removed from the gallery for that query, as in the paper. ``too_wide``: what a k
        wider than the gallery (less each query's own rows) gives: ``"error"`` a ValueError,
        ``"omit"`` no entry for that k (see ``clip2nerf.utils.recall.recall_at_k``).
        """
        from clip2nerf.utils.recall import recall_at_k

        if len(query_ids) != len(queries) or len(query_labels) != len(queries):
            raise UserError(f"{len(queries)} queries but {len(query_ids)} ids and "
                            f"{len(query_labels)} labels")
        ids, _ = self.search(queries, max(ks), list(query_ids) if exclude_self else None, space)
        return recall_at_k(query_labels, self.labels_of(ids), ks, too_wide)

    def labels_of(self, ids: np.ndarray) -> np.ndarray:
        """Class labels of an id array (any shape); ``""`` stays ``""``."""
        return np.vectorize(self._label_of.__getitem__, otypes=[object])(ids)

    def _cached(self, name: str, build: Callable[[], Any]) -> Any:
        """``build()``, made once per ``ids`` / ``labels`` lists (a million-row gallery would
        otherwise rebuild its lookups on every query); replacing or growing a list rebuilds."""
        key = (id(self.ids), len(self.ids), id(self.labels))
        if self._cache.get("key") != key:
            self._cache = {"key": key}
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]

    @property
    def _id_array(self) -> np.ndarray:
        """The ids as an object array, indexed by row."""
        return self._cached("id_array", lambda: np.asarray(self.ids, dtype=object))

    @property
    def _rows_per_id(self) -> Counter[str]:
        """How many rows each id has (all views of an object share its id)."""
        return self._cached("rows_per_id", lambda: Counter(self.ids))

    @property
    def _label_of(self) -> dict[str, str]:
        """id -> label, with ``""`` (a missing hit) -> ``""``."""
        return self._cached("label_of",
                            lambda: {**dict(zip(self.ids, self.labels, strict=True)), "": ""})

    def set_nprobe(self, nprobe: int) -> None:
        """IVF clusters scanned per query from now on (higher: slower, closer to exact)."""
        spec = GALLERY_KINDS.get(self.config.kind)
        if spec is None or not spec.ivf:
            raise UserError(f"--nprobe applies to IVF galleries, not {self.config.kind!r}")
        bounds.NPROBE.check(nprobe, "--nprobe")
        self.index.nprobe = min(nprobe, self.index.nlist)
        self.config.nprobe = nprobe

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
             mmap: bool | None = None) -> Gallery:
        """Read and validate a gallery folder.

        ``mmap``: map an IVF index's inverted lists from the file (``IO_FLAG_MMAP``) instead of
        reading them; ``None`` (default) maps IVF galleries (``ivf``, ``ivf-sq8``, ``ivf-sq6``) and reads
        flat ones (faiss reads a flat index into memory either way).
        """
        import faiss

        folder = Path(folder)
        path = folder / INDEX_NAME
        header = _read_header(folder)
        if not path.is_file():
            raise UserError(f"gallery index not found: {path}")
        ids, labels, cfg = header.ids, _one_copy_each(header.labels), header.config
        space, dim, extra = header.space, header.dim, header.extra
        spec = GALLERY_KINDS.get(cfg.kind)
        if spec is None:
            raise UserError(f"{folder}: gallery kind {cfg.kind!r} is unknown to this clip2nerf; "
                            "upgrade clip2nerf")
        if mmap is None:
            mmap = spec.mmap
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index: Any
        try:
            index = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            raise UserError(f"{path}: corrupt faiss index ({str(exc).splitlines()[0]})") from None
        mismatch = spec.matches(index)
        if mismatch is not None:
            raise UserError(f"{folder / META_NAME}: says kind {cfg.kind!r} but {INDEX_NAME} "
                            f"{mismatch}; rebuild the gallery with `clip2nerf index`")
        if index.ntotal != len(ids) or len(labels) != len(ids):
            raise UserError(f"{folder}: index holds {index.ntotal} vectors but metadata lists "
                            f"{len(ids)} ids and {len(labels)} labels")
        if index.d != dim or index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise UserError(f"{folder}: index is not a {dim}-d inner-product index")
        if spec.ivf:
            index.nprobe = min(cfg.nprobe, index.nlist)
        gallery = cls(index, ids, labels, space, cfg, dict(extra))
        if expect_space is not None:
            gallery.check_space(expect_space)
        return gallery


def auto_kind(n: int) -> str:
    """The kind ``auto`` builds for ``n`` rows: ``flat`` up to ``AUTO_FLAT_MAX``, ``ivf-sq8`` up
    to ``AUTO_SQ8_MAX``, else ``ivf-sq6``.

    Serving keeps the probed inverted lists resident (mapped file pages) beside ~0.13 KB of
    the process's own memory per row (ids, labels), so a busy server's resident set approaches
    file size + 0.13 KB/row: ~1.15 KB/row for 8-bit codes (1.1 GB at 1M, over the 1 GB goal)
    and ~0.8 KB/row for 6-bit codes (813 MB at 1M, p50 1.4 ms, recall@10 0.955 with 2000
    lists; benchmarks/README.md). Up to 500k rows the 8-bit codes fit (~0.6 GB) and recall more.
    """
    return next(k.name for k in GALLERY_KINDS.values()
                if k.auto_max_rows is not None and n <= k.auto_max_rows)


def _one_copy_each(strings: list[str]) -> list[str]:
    """The same list with equal strings sharing one object: a million labels of a few
    hundred classes then cost 8 MB of pointers instead of ~60 MB of string copies."""
    seen: dict[str, str] = {}
    return [seen.setdefault(s, s) for s in strings]
