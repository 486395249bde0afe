"""Embedding tables: vectors with ids, class labels and the space they live in.

One file format for every stored embedding (NeRF embeddings from nf2vec, view and text
embeddings from a VLM, galleries): a safetensors file holding ``vectors`` — ``(n, d)`` or
``(n, n_views, d)`` float32 — and JSON metadata (ids, labels, space name, free ``extra``).
The ``space`` string (e.g. ``"nf2vec:cpu-small@<hash>"`` or ``"vlm:offline-lit-minilm-v1"``)
travels with the vectors so that a consumer can refuse embeddings from the wrong model.

Large collections are stored as shards: a folder of ``*.safetensors`` files, read in name
order and concatenated by :func:`load_embeddings`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.utils.io import atomic_path
from clip2nerf.utils.validate import UniqueStrings, parse_json


def format_version(value: Any, what: str) -> int:
    """A format version from a header or JSON file (an int, or a string of digits)."""
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 9:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserError(f"{what} must be a non-negative integer, got {value!r:.40}")
    return value

EMBEDDINGS_FORMAT = "clip2nerf-embeddings"
EMBEDDINGS_VERSION = 1


@dataclass
class EmbeddingTable:
    """``vectors[i]`` is the embedding (or per-view embeddings) of item ``ids[i]``.

    Attributes:
        vectors: (n, d) or (n, n_views, d) float32.
        ids: n item ids (object ids for NeRFs and views).
        labels: n class names ("" when unknown).
        space: name of the model/space that produced the vectors.
        extra: JSON-serialisable extras, e.g. ``{"sources": [...], "view_ids": [...]}``.
    """

    vectors: np.ndarray
    ids: list[str]
    labels: list[str]
    space: str
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        self.ids = [str(i) for i in self.ids]
        self.labels = [str(c) for c in self.labels]
        if self.vectors.ndim not in (2, 3):
            raise ValueError(f"vectors must be (n, d) or (n, v, d), got {self.vectors.shape}")
        if len(self.ids) != len(self.vectors) or len(self.labels) != len(self.vectors):
            raise ValueError(f"{len(self.vectors)} vectors but {len(self.ids)} ids and "
                             f"{len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[-1])

    def index_of(self) -> dict[str, int]:
        return {oid: i for i, oid in enumerate(self.ids)}

    def subset(self, ids: list[str]) -> EmbeddingTable:
        """Rows for ``ids``, in that order; a missing id is a UserError naming it."""
        where = self.index_of()
        missing = [i for i in ids if i not in where]
        if missing:
            raise UserError(f"ids not in embedding table ({self.space}): {', '.join(missing[:5])}"
                            + (" ..." if len(missing) > 5 else ""))
        rows = [where[i] for i in ids]
        extra = {k: ([v[r] for r in rows] if isinstance(v, list) and len(v) == len(self) else v)
                 for k, v in self.extra.items()}
        return EmbeddingTable(self.vectors[rows], list(ids), [self.labels[r] for r in rows],
                              self.space, extra)

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + fsync + rename)."""
        from safetensors.numpy import save_file

        meta = {
            "format": EMBEDDINGS_FORMAT,
            "version": str(EMBEDDINGS_VERSION),
            "space": self.space,
            "ids": json.dumps(self.ids),
            "labels": json.dumps(self.labels),
            "extra": json.dumps(self.extra),
        }
        with atomic_path(path) as tmp:
            save_file({"vectors": self.vectors}, str(tmp), metadata=meta)

    @classmethod
    def load(cls, path: str | Path, expect_space: str | None = None) -> EmbeddingTable:
        """Read and validate one file; ``expect_space`` refuses vectors from another model."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise UserError(f"embeddings file not found: {path}")
        try:
            with safe_open(str(path), framework="numpy") as fh:
                meta = fh.metadata() or {}
                if meta.get("format") != EMBEDDINGS_FORMAT:
                    raise UserError(f"{path} is not a clip2nerf embeddings file "
                                    f"(format {meta.get('format')!r})")
                version = format_version(meta.get("version", "0"), f"{path}: embeddings version")
                if version > EMBEDDINGS_VERSION:
                    raise UserError(f"{path}: embeddings format version {version} is newer "
                                    "than this clip2nerf; upgrade clip2nerf")
                if "vectors" not in fh.keys():
                    raise UserError(f"{path}: no 'vectors' tensor")
                vectors = fh.get_tensor("vectors")
            ids = parse_json(UniqueStrings, meta["ids"], "ids")
            labels = parse_json(list[str], meta["labels"], "labels")
            extra = parse_json(dict[str, Any], meta.get("extra", "{}"), "extra")
            if not isinstance(meta.get("space", ""), str):
                raise ValueError("space: must be a string")
        except UserError:
            raise
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise UserError(f"{path}: corrupt embeddings file ({exc})") from None
        if vectors.dtype != np.float32:
            raise UserError(f"{path}: vectors are {vectors.dtype}, expected float32")
        if not np.isfinite(vectors).all():
            raise UserError(f"{path}: vectors contain NaN or infinity")
        space = meta.get("space", "")
        if expect_space is not None and space != expect_space:
            raise UserError(f"{path} holds embeddings of {space!r}, but {expect_space!r} is in use; "
                            "re-embed with the current model")
        try:
            return cls(vectors, ids, labels, space, extra)
        except ValueError as exc:
            raise UserError(f"{path}: inconsistent embeddings file ({exc})") from None

    @classmethod
    def concat(cls, tables: list[EmbeddingTable],
               vectors: np.ndarray | None = None) -> EmbeddingTable:
        """Join shards of one space; duplicate ids are refused. ``vectors``: the shards'
        vectors already joined (then the tables' own are not read)."""
        if not tables:
            raise UserError("no embeddings to join")
        spaces = {t.space for t in tables}
        if len(spaces) != 1:
            raise UserError(f"cannot join embeddings of different spaces: {sorted(spaces)}")
        ids = [i for t in tables for i in t.ids]
        if len(set(ids)) != len(ids):
            raise UserError("duplicate ids across embedding shards")
        extra: dict[str, Any] = {}
        for key, value in tables[0].extra.items():
            if all(isinstance(t.extra.get(key), list) and len(t.extra[key]) == len(t)
                   for t in tables):
                extra[key] = [v for t in tables for v in t.extra[key]]
            elif all(t.extra.get(key) == value for t in tables):
                extra[key] = value
        if vectors is None:
            vectors = np.concatenate([t.vectors for t in tables])
        return cls(vectors, ids, [c for t in tables for c in t.labels], tables[0].space, extra)


def embedding_files(path: str | Path) -> list[Path]:
    """The file itself, or a folder's ``*.safetensors`` shards in name order."""
    path = Path(path)
    if path.is_dir():
        shards = sorted(p for p in path.glob("*.safetensors") if not p.name.startswith("."))
        if not shards:
            raise UserError(f"{path}: folder holds no *.safetensors embedding shards")
        return shards
    if not path.is_file():
        raise UserError(f"embeddings file not found: {path}")
    return [path]


def load_embeddings(path: str | Path, expect_space: str | None = None) -> EmbeddingTable:
    """Load one embeddings file, or a folder of shard files concatenated in name order."""
    files = embedding_files(path)
    if not Path(path).is_dir():
        return EmbeddingTable.load(files[0], expect_space)
    # Each shard is copied into one array as it is read, then dropped: joining the loaded
    # shards would hold the table twice (a 40,000-object view table is 2.2 GB).
    heads = [read_header(p) for p in files]
    shapes = sorted({h.shape[1:] for h in heads})
    if len(shapes) != 1:
        raise UserError(f"{path}: shards of different shapes {shapes}; embed them again "
                        "into one folder with one model")
    vectors = np.empty((sum(h.shape[0] for h in heads), *shapes[0]), dtype=np.float32)
    shards, at = [], 0
    for head in heads:
        table = EmbeddingTable.load(head.path, expect_space)
        if table.vectors.shape != head.shape:
            raise UserError(f"{head.path} changed while it was read; read it again")
        vectors[at:at + len(table)] = table.vectors
        at += len(table)
        shards.append(replace(table, vectors=np.empty((len(table), 0), dtype=np.float32)))
    return EmbeddingTable.concat(shards, vectors)


@dataclass
class ShardHeader:
    """What a shard's header says, read without its vectors: ``shape`` is the vectors' shape."""

    path: Path
    shape: tuple[int, ...]
    ids: list[str]
    labels: list[str]
    space: str


def read_header(path: str | Path) -> ShardHeader:
    """Shape, ids, labels and space of one embeddings file (its vectors are not read)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") != EMBEDDINGS_FORMAT or "vectors" not in fh.keys():
                raise UserError(f"{path} is not a clip2nerf embeddings file")
            shape = tuple(int(s) for s in fh.get_slice("vectors").get_shape())
        ids = parse_json(list[str], meta["ids"], "ids")
        labels = parse_json(list[str], meta["labels"], "labels")
    except UserError:
        raise
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise UserError(f"{path}: corrupt embeddings file ({exc})") from None
    if len(shape) not in (2, 3) or len(ids) != shape[0] or len(labels) != shape[0]:
        raise UserError(f"{path}: inconsistent embeddings file (vectors {shape}, "
                        f"{len(ids)} ids, {len(labels)} labels)")
    return ShardHeader(path, shape, ids, labels, meta.get("space", ""))


def l2_normalize(x: np.ndarray, axis: int = -1, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(norm, eps)
