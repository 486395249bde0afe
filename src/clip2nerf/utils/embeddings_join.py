"""Join embeddings shard files into one file, streaming: one shard's vectors in memory at a time.

``EmbeddingTable.concat`` holds every shard and the joined matrix at once (twice the data);
a sharded ``nf2vec embed`` of a million NeRFs would need 8 GB for that. Here the joined
file's safetensors header (shape, ids, labels, extra: metadata only) is written first, then
each shard's float32 rows are appended in order, so memory is one shard plus the metadata.
The file is the format ``EmbeddingTable.save`` writes (safetensors: an 8-byte little-endian
header length, the JSON header padded with spaces to 8 bytes, then the raw tensor), written
atomically.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.utils.embeddings import (
    EMBEDDINGS_FORMAT,
    EMBEDDINGS_VERSION,
    EmbeddingTable,
    ShardHeader,
    read_header,
)
from clip2nerf.utils.io import atomic_path

SAFETENSORS_MAX_HEADER = 100_000_000
"""safetensors refuses to read a header larger than this (bytes)."""

def _extra(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        extra = json.loads((fh.metadata() or {}).get("extra", "{}"))
    if not isinstance(extra, dict):
        raise UserError(f"{path}: corrupt embeddings file (extra is not an object)")
    return extra


def _merge_extra(extras: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    """Per-row lists are concatenated, equal values kept (as ``EmbeddingTable.concat``)."""
    out: dict[str, Any] = {}
    for key, value in extras[0].items():
        if all(isinstance(e.get(key), list) and len(e[key]) == n
               for e, n in zip(extras, sizes, strict=True)):
            out[key] = [v for e in extras for v in e[key]]
        elif all(e.get(key) == value for e in extras):
            out[key] = value
    return out


def join_embedding_files(files: Sequence[str | Path], out: str | Path,
                         expect_space: str | None = None) -> ShardHeader:
    """Write the shards ``files`` (in that order) as one embeddings file ``out``.

    Refused (UserError): no files, shards of different spaces or vector shapes, an id in
    more than one shard. Returns the joined file's header.
    """
    paths = [Path(p) for p in files]
    if not paths:
        raise UserError("no embeddings to join")
    headers = [read_header(p) for p in paths]
    spaces = {h.space for h in headers}
    if len(spaces) != 1:
        raise UserError(f"cannot join embeddings of different spaces: {sorted(spaces)}")
    space = spaces.pop()
    if expect_space is not None and space != expect_space:
        raise UserError(f"{paths[0]} holds embeddings of {space!r}, but {expect_space!r} is in "
                        "use; re-embed with the current model")
    tails = {h.shape[1:] for h in headers}
    if len(tails) != 1:
        raise UserError(f"cannot join embeddings of different shapes: {sorted(tails)}")
    ids = [i for h in headers for i in h.ids]
    if len(set(ids)) != len(ids):
        raise UserError("duplicate ids across embedding shards")
    sizes = [len(h.ids) for h in headers]
    extra = _merge_extra([_extra(p) for p in paths], sizes)
    shape = [len(ids), *tails.pop()]
    nbytes = int(np.prod(shape)) * 4
    meta = {"format": EMBEDDINGS_FORMAT, "version": str(EMBEDDINGS_VERSION), "space": space,
            "ids": json.dumps(ids), "labels": json.dumps([c for h in headers for c in h.labels]),
            "extra": json.dumps(extra)}
    header = json.dumps({"__metadata__": meta, "vectors": {
        "dtype": "F32", "shape": shape, "data_offsets": [0, nbytes]}},
        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    if len(header) > SAFETENSORS_MAX_HEADER:
        raise UserError(f"joining {len(paths)} shards: the ids, labels and per-row extras of "
                        f"{len(ids)} rows make a {len(header) >> 20} MB header, over safetensors' "
                        f"{SAFETENSORS_MAX_HEADER // 10**6} MB limit; keep the shards as a folder "
                        "of tables (`clip2nerf index` reads folders) instead of one file")
    del ids, meta
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(struct.pack("<Q", len(header)))
            fh.write(header)
            for p in paths:
                vec = EmbeddingTable.load(p, space).vectors  # validated: finite float32
                fh.write(np.ascontiguousarray(vec, dtype="<f4").data)
                del vec
    return read_header(out)


__all__ = ["join_embedding_files"]
