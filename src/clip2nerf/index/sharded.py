"""Gallery building with the per-row work in shard tasks (``clip2nerf index --executor``).

Building an IVF gallery is: train the coarse quantizer (and scalar quantizer) on a sample,
then assign and encode every row, then append the codes to the inverted lists. The middle
step is the per-row work that grows with the gallery (at 1M rows it is most of the build), so
:func:`encoded_chunks` runs it as shard tasks of :mod:`clip2nerf.utils.executor` (here, or
one Ray task per shard of embeddings files):

1. the driver trains the index (``Gallery.from_chunks``) and writes the trained, empty index
   to ``<parts>/trained.faiss``;
2. each shard task reads its embeddings files, keeps the wanted ids, reduces views,
   L2-normalises and encodes the rows with ``sa_encode`` (list number + code), and writes
   ``<parts>/shard-NNNNN.safetensors`` (codes, ids, labels, sources) atomically; a rerun
   of the same plan (files, sizes, ids, kind, trained index) keeps finished parts;
3. the driver appends the parts' codes in order with ``add_sa_codes`` — the same index,
   byte for byte, as adding the rows itself — and removes ``<parts>``.

Memory stays one part at a time in the driver; workers must see ``<parts>`` and the files
(a shared filesystem on a cluster).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.index.chunks import check_chunk, file_chunk
from clip2nerf.utils.executor import ExecutorConfig, Shard, make_shards, map_shards, worker_cached
from clip2nerf.utils.io import atomic_path, atomic_write_json, read_json

TRAINED_NAME = "trained.faiss"


def _trained(index_file: str, digest: str) -> Any:
    import faiss

    return worker_cached("faiss-index", (index_file, digest),
                         lambda: faiss.read_index(index_file))


def encode_shard(shard: Shard, index_file: str, digest: str, space: str,
                 keep: list[str] | None, views: str, parts: str) -> int:
    """Encode one shard of embeddings files into ``parts/<shard>.safetensors``; its rows."""
    from safetensors.numpy import save_file

    out = Path(parts) / f"{shard.name}.safetensors"
    if out.is_file():
        return len(_part_meta(out)["ids"])
    index = _trained(index_file, digest)
    keep_set = None if keep is None else set(keep)
    codes, ids, labels = [], [], []
    sources: dict[str, str] = {}
    for name in shard.items:
        got = file_chunk(Path(name), space, keep_set, views)  # type: ignore[arg-type]
        if got is None:
            continue
        (vec, cids, clabels), src = got
        x = check_chunk(vec, cids, clabels, index.d)
        codes.append(index.sa_encode(x))
        ids += [str(i) for i in cids]
        labels += [str(c) for c in clabels]
        sources.update(src)
    arr = np.concatenate(codes) if codes else np.zeros((0, index.sa_code_size()), np.uint8)
    meta = {"ids": json.dumps(ids), "labels": json.dumps(labels),
            "sources": json.dumps(sources)}
    with atomic_path(out) as tmp:
        save_file({"codes": np.ascontiguousarray(arr, dtype=np.uint8)}, str(tmp), metadata=meta)
    return len(ids)


def _part_meta(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        meta = fh.metadata() or {}
    return {k: json.loads(meta[k]) for k in ("ids", "labels", "sources")}


def _load_part(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            codes = fh.get_tensor("codes")
        return codes, _part_meta(path)
    except Exception as exc:  # a damaged part: named, and removed for the rerun
        path.unlink(missing_ok=True)
        raise UserError(f"{path}: unreadable shard part ({exc}); run the command again") \
            from None


def encoded_chunks(index: Any, files: Sequence[Path], space: str, keep: set[str] | None,
                   views: str, executor: ExecutorConfig, parts: str | Path | None,
                   sources: dict[str, str], log=lambda m: None
                   ) -> Iterable[tuple[np.ndarray, list[str], list[str]]]:
    """Run the encoding shards for the trained ``index``; yield ``(codes, ids, labels)`` per
    part in file order (``sources`` is filled as parts are read)."""
    import faiss

    if parts is None:
        raise UserError("a sharded gallery build needs a parts folder")
    parts = Path(parts).absolute()  # a Ray worker's working directory is not this one
    files = [Path(f).absolute() for f in files]
    blob = faiss.serialize_index(index)
    digest = hashlib.sha256(blob.tobytes()).hexdigest()[:16]
    plan = {"index": digest, "space": space, "views": views, "shard_size": executor.shard_size,
            "files": [[str(Path(f).resolve()), Path(f).stat().st_size,
                       Path(f).stat().st_mtime_ns] for f in files],
            "keep": hashlib.sha256(json.dumps(sorted(keep)).encode()).hexdigest()
            if keep is not None else None}
    if parts.exists() and not (parts / "plan.json").is_file():
        raise UserError(f"{parts} exists but is not a shard folder of `clip2nerf index` (no "
                        "plan.json); move it away or choose another --out")
    if parts.exists() and read_json(parts / "plan.json", "shard plan") != plan:
        shutil.rmtree(parts)  # another build's parts: start over
    parts.mkdir(parents=True, exist_ok=True)
    index_file = parts / TRAINED_NAME
    if not index_file.is_file():
        with atomic_path(index_file) as tmp:
            faiss.write_index(index, str(tmp))
    atomic_write_json(parts / "plan.json", plan)
    shards = make_shards([str(f) for f in files], executor.shard_size)
    todo = [s for s in shards if not (parts / f"{s.name}.safetensors").is_file()]
    args = (str(index_file), digest, space, None if keep is None else sorted(keep), views,
            str(parts))
    for done, (shard, rows) in enumerate(map_shards(encode_shard, todo, args, executor), 1):
        log(f"index: {shard.name} encoded ({rows} rows; {done}/{len(todo)} shards to do)")
    for s in shards:
        codes, meta = _load_part(parts / f"{s.name}.safetensors")
        sources.update(meta["sources"])
        if len(meta["ids"]):
            yield codes, meta["ids"], meta["labels"]
    shutil.rmtree(parts, ignore_errors=True)


__all__ = ["encode_shard", "encoded_chunks"]
