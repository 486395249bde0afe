"""The rows of catalogue updates: exact row tables, the per-object work sharded (local or Ray).

``clip2nerf catalogue add`` (:func:`clip2nerf.catalogue.updates.add_nerfs`) embeds its NeRF
files in shards through :mod:`clip2nerf.utils.executor` (``--executor local|ray``):

- each shard task reads each source's safetensors header (through the ``safetensors``
  library; an embeddings table is then read as a table), reads each NeRF file once (into
  memory), writes its content-named copy ``W/catalogue/nerfs/<sha256[:16]>.safetensors``
  atomically, reads the NeRF back from that copy (the source is not read again), embeds the
  shard's NeRFs with nf2vec, and writes one embeddings table
  ``W/catalogue/staging/<plan>/shard-NNNNN.safetensors`` atomically (ids, classes, the
  copies' paths, captions). A shard whose table exists is skipped, so a
  rerun of a failed or interrupted add (same files, same shard size: the same ``<plan>``)
  embeds only the shards still missing; a failed Ray task is retried, a refused file
  (UserError) fails at once.
- the driver then checks the new ids, moves the shard tables to ``W/catalogue/rows/`` and
  builds the new version's gallery in one streaming faiss pass (``Gallery.from_chunks``) over
  the row tables the version lists: never the whole float32 matrix in memory.

Exact rows: every version's ``gallery.json`` lists (``extra["rows"]``) the row tables its
vectors come from, float32 exactly as embedded. An update rebuilds the index from those rows,
not from the index's own reconstruction (lossy for ``ivf-sq8``/``ivf-sq6``), so repeated
updates do not degrade the vectors. An id's row is its last occurrence in the listed tables
(a removed then re-added id). A version written before this (no ``rows``), or the demo's
gallery, gives its reconstructed rows once, into ``rows/<version>-base.safetensors``.
Row tables no kept version lists are deleted after an update; a failed add's staging folder
stays for its rerun (delete it freely).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError, safe_open

from clip2nerf.catalogue.store import (
    NERF_COPIES_DIR,
    Catalogue,
    CatalogueVersion,
    gallery_vectors,
    valid_id,
)
from clip2nerf.errors import UserError
from clip2nerf.index.chunks import Chunk
from clip2nerf.index.gallery import Gallery, GalleryConfig
from clip2nerf.utils.embeddings import EMBEDDINGS_FORMAT, EmbeddingTable, read_header
from clip2nerf.utils.executor import ExecutorConfig, Shard, make_shards, map_shards
from clip2nerf.utils.io import atomic_path

if TYPE_CHECKING:
    from clip2nerf.nf2vec import Nf2vec

ROWS_DIR = "rows"
STAGING_DIR = "staging"
ROWS_KEY = "rows"
"""``gallery.json`` ``extra`` key: the version's row tables, relative to ``W/catalogue``."""

def _model(model: Nf2vec | str | os.PathLike[str], device: str) -> Nf2vec:
    """An Nf2vec model, or one loaded from its folder once per worker process."""
    if not isinstance(model, (str, os.PathLike)):
        return model
    from clip2nerf.nf2vec.embed import worker_model

    return worker_model(model, device)


MAX_SOURCE_BYTES = 64 << 20
"""Largest NeRF file ``catalogue add`` reads whole (ours are ~0.1-1 MB); larger sources must be
embeddings tables, which are read through their header."""


def _is_embeddings_table(path: Path) -> bool:
    """Whether a file's safetensors header marks it a clip2nerf embeddings table (the header
    only: a large file is not read). Not a safetensors file (or one the library refuses): False,
    and the file is then read as a NeRF, whose loader names what is wrong. OSError propagates."""
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
    except SafetensorError:
        return False
    return meta.get("format") == EMBEDDINGS_FORMAT


def _read_table(path: Path, space: str) -> tuple[np.ndarray, list[str], list[str]]:
    """An embeddings table given to ``catalogue add``: finite (n, d) vectors of ``space``."""
    try:
        table = EmbeddingTable.load(path)
    except (UserError, ValueError) as exc:
        raise UserError(f"{path}: {exc}") from None
    if table.space != space:
        raise UserError(f"{path}: embeddings of {table.space!r}, but the catalogue's nf2vec "
                        f"space is {space!r}; embed the NeRFs with the catalogue's nf2vec model")
    if table.vectors.ndim != 2 or not np.isfinite(table.vectors).all():
        raise UserError(f"{path}: embeddings must be finite (n, d) vectors")
    return table.vectors, table.ids, table.labels


def add_shard(shard: Shard, model: Nf2vec | str, root: str, staging: str, device: str,
              space: str, workdir: str) -> int:
    """Embed one shard of source files into ``staging/<shard>.safetensors``; returns its rows.

    Runs on an executor (a Ray worker or here). Skips the shard when its table exists.
    """
    # clip2nerf.nerf and nf2vec load torch: imported in the worker that embeds
    from clip2nerf.nerf.io import load_nerf
    from clip2nerf.nf2vec import embed_matrices
    from clip2nerf.nf2vec.nerfs import weight_matrix

    out = Path(staging) / f"{shard.name}.safetensors"
    if out.is_file():
        return len(read_header(out).ids)
    nf2vec = _model(model, device)
    copies = Path(root) / NERF_COPIES_DIR
    workdir_p = Path(workdir)
    tables: list[EmbeddingTable] = []
    mats, ids, labels, sources, captions = [], [], [], [], []
    files: list[str] = []
    for name in shard.items:
        path = Path(name)
        try:
            size = path.stat().st_size
            is_table = _is_embeddings_table(path)
            if not is_table:
                if size > MAX_SOURCE_BYTES:  # only an embeddings table may be this large
                    raise UserError(f"{path}: {size} bytes is too large for a NeRF file (at "
                                    f"most {MAX_SOURCE_BYTES >> 20} MiB); give NeRF files or "
                                    "clip2nerf embeddings tables")
                data = path.read_bytes()  # the one read of the NeRF file
        except OSError as exc:
            raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if is_table:
            vecs, tids, tlabels = _read_table(path, space)
            tables.append(EmbeddingTable(vecs, tids, tlabels, space, {
                "sources": [None] * len(tids), "captions": [None] * len(tids),
                "files": [str(path)] * len(tids)}))
            continue
        copies.mkdir(parents=True, exist_ok=True)
        copy = copies / f"{hashlib.sha256(data).hexdigest()[:16]}.safetensors"
        with atomic_path(copy) as tmp:  # renamed into place only if the NeRF is accepted
            tmp.write_bytes(data)
            del data
            try:
                nf = load_nerf(tmp, expected_config=nf2vec.config.nerf, occupancy=False)
            except UserError as exc:
                raise UserError(str(exc).replace(str(tmp), str(path))) from None
            mat = weight_matrix(nf, nf2vec.config.nerf, nf2vec.reads_output_padding)
            if not bool(np.isfinite(mat.numpy()).all()):
                raise UserError(f"NeRF file {path}: weights contain NaN or infinity")
        mats.append(mat)
        ids.append(nf.object_id or path.stem)
        labels.append(nf.class_name)
        rel = copy.resolve()
        sources.append(str(rel.relative_to(workdir_p)) if rel.is_relative_to(workdir_p)
                       else str(rel))
        caption = nf.meta.get("caption")
        captions.append(str(caption) if caption else None)
        files.append(str(path))
    if mats:
        import torch

        vecs = embed_matrices(nf2vec, torch.stack(mats), device=device).numpy()
        tables.insert(0, EmbeddingTable(vecs, ids, labels, space, {
            "sources": sources, "captions": captions, "files": files}))
    if not tables:
        return 0
    table = tables[0] if len(tables) == 1 else _concat(tables)
    table.save(out)
    return len(table)


def _concat(tables: list[EmbeddingTable]) -> EmbeddingTable:
    dims = {t.vectors.shape[1] for t in tables}
    if len(dims) > 1:
        files = sorted({f for t in tables for f in t.extra["files"] if f})
        raise UserError(f"catalogue add: embeddings of different sizes {sorted(dims)} in one "
                        f"shard (tables {files[:3]}); give tables made with the catalogue's "
                        "nf2vec model")
    ids = [i for t in tables for i in t.ids]
    extra = {k: [v for t in tables for v in t.extra[k]] for k in ("sources", "captions",
                                                                    "files")}
    return EmbeddingTable(np.concatenate([t.vectors for t in tables]), ids,
                          [c for t in tables for c in t.labels], tables[0].space, extra)


def plan_key(files: Sequence[Path], space: str, shard_size: int) -> str:
    """A name for one add's plan: its files (path, size, mtime), space and shard size."""
    h = hashlib.sha256(json.dumps([space, shard_size]).encode())
    for f in files:
        st = f.stat()
        h.update(json.dumps([str(f.resolve()), st.st_size, st.st_mtime_ns]).encode())
    return h.hexdigest()[:16]


def embed_sources(cat: Catalogue, files: Sequence[Path], nf2vec: Nf2vec, model_dir: Path,
                  device: str, executor: ExecutorConfig, log: Callable[[str], None]
                  ) -> list[Path]:
    """Run the shards of one add (skipping finished ones); the staged tables, in order."""
    key = plan_key(files, nf2vec.space, executor.shard_size)
    staging = cat.root / STAGING_DIR / key
    staging.mkdir(parents=True, exist_ok=True)
    # absolute: a Ray worker's working directory is not this one
    shards = make_shards([str(Path(f).absolute()) for f in files], executor.shard_size)
    todo = [s for s in shards if not (staging / f"{s.name}.safetensors").is_file()]
    if len(todo) < len(shards):
        log(f"catalogue: {len(shards) - len(todo)} of {len(shards)} shards already embedded "
            f"({staging})")
    model: Nf2vec | str = nf2vec if executor.kind == "local" else str(model_dir)
    args = (model, str(cat.root), str(staging), device, nf2vec.space, str(cat.workdir))
    done = len(shards) - len(todo)
    for shard, rows in map_shards(add_shard, todo, args, executor, use_gpu=device != "cpu"):
        done += 1
        log(f"catalogue: shard {shard.name} embedded ({rows} rows; {done}/{len(shards)})")
    return [p for s in shards if (p := staging / f"{s.name}.safetensors").is_file()]


def new_entries(staged: Sequence[Path], entries: dict[str, dict[str, Any]]) -> list[str]:
    """Check the staged ids (valid, not in the catalogue, not twice) and add their entries."""
    new_ids: list[str] = []
    seen: set[str] = set()
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    for path in staged:
        h = read_header(path)
        extra = _extra(path)
        for r, oid in enumerate(h.ids):
            src = extra["files"][r]
            if not valid_id(oid):
                raise UserError(f"{src}: object id {oid[:60]!r} is not a valid catalogue id "
                                "(letters, digits, '.', '_', '-'; at most 128)")
            if oid in entries or oid in seen:
                raise UserError(f"{src}: id {oid!r} is already in the catalogue (remove it "
                                "first with `clip2nerf catalogue remove`)")
            seen.add(oid)
            new_ids.append(oid)
        for r, oid in enumerate(h.ids):
            entries[oid] = {"class": h.labels[r], "caption": extra["captions"][r],
                            "source": extra["sources"][r], "added": now}
    return new_ids


def _extra(path: Path) -> dict[str, Any]:
    with safe_open(str(path), framework="numpy") as fh:
        return json.loads((fh.metadata() or {}).get("extra", "{}"))


def version_rows(cat: Catalogue, version: CatalogueVersion) -> list[str]:
    """The row tables of a version (relative to ``W/catalogue``); a version without them
    (older, or the demo's gallery) has its index's reconstructed rows written once."""
    rows = version.gallery.extra.get(ROWS_KEY)
    if isinstance(rows, list) and all(isinstance(r, str) for r in rows):
        return list(rows)
    if len(version.gallery) == 0:
        return []
    rel = f"{ROWS_DIR}/{version.name}-base.safetensors"
    if not (cat.root / rel).is_file():
        g = version.gallery
        EmbeddingTable(gallery_vectors(g), list(g.ids), list(g.labels), g.space).save(
            cat.root / rel)
    return [rel]


def keep_rows(cat: Catalogue, staged: Sequence[Path]) -> list[str]:
    """Link (or copy) staged shard tables into ``W/catalogue/rows`` (named by plan and shard).
    The staged files stay until the new version is published (``remove_staging``), so an add
    that fails after this point still finds its shards for the rerun."""
    out: list[str] = []
    dest = cat.root / ROWS_DIR
    dest.mkdir(parents=True, exist_ok=True)
    for p in staged:
        rel = f"{ROWS_DIR}/{p.parent.name}-{p.name}"
        target = cat.root / rel
        tmp = target.with_name(target.name + ".linking")
        tmp.unlink(missing_ok=True)
        try:
            os.link(p, tmp)
        except OSError:  # a file system without hard links
            shutil.copy2(p, tmp)
        os.replace(tmp, target)
        out.append(rel)
    return out


def gallery_from_rows(cat: Catalogue, rows: Sequence[str], entries: dict[str, dict[str, Any]],
                      space: str, config: GalleryConfig | None = None) -> Gallery:
    """The gallery of ``entries`` (ids in row order), streamed from exact row tables."""
    headers = [read_header(cat.root / r) for r in rows]
    owner: dict[str, int] = {}
    for fi, h in enumerate(headers):
        for oid in h.ids:
            if oid in entries:
                owner[oid] = fi  # the last table holding an id wins
    missing = [i for i in entries if i not in owner]
    if missing:
        raise UserError(f"{cat.root}: catalogue rows lack ids {missing[:5]}; the catalogue "
                        "is damaged (restore it or rebuild it with `clip2nerf catalogue add`)")
    if not owner:
        raise UserError("a catalogue cannot become empty; keep at least one NeRF")
    dims = {h.shape[-1] for h in headers}
    if len(dims) != 1:
        raise UserError(f"{cat.root}: catalogue rows disagree on the dimension: {sorted(dims)}")

    def chunks() -> Iterator[Chunk]:
        for fi, h in enumerate(headers):
            sel = [r for r, oid in enumerate(h.ids) if owner.get(oid) == fi]
            if not sel:
                continue
            table = EmbeddingTable.load(h.path, space)
            ids = [table.ids[r] for r in sel]
            yield table.vectors[sel], ids, [str(entries[i].get("class", "")) for i in ids]

    n = len(owner)
    gallery = Gallery.from_chunks(chunks, n, dims.pop(), space, config, {})
    gallery.extra = {"entries": {i: entries[i] for i in gallery.ids}, ROWS_KEY: list(rows)}
    return gallery


def prune_rows(cat: Catalogue) -> None:
    """Delete row tables that no kept version lists (after an update and its prune)."""
    folder = cat.root / ROWS_DIR
    if not folder.is_dir():
        return
    used: set[str] = set()
    for v in cat.versions.iterdir() if cat.versions.is_dir() else []:
        meta = v / "gallery.json"
        if v.name.startswith(".") or not meta.is_file():
            continue
        try:
            rows = json.loads(meta.read_text(encoding="utf-8")).get("extra", {}).get(ROWS_KEY)
        except (OSError, ValueError):
            return  # unsure what is in use: keep everything
        used.update(rows if isinstance(rows, list) else [])
    for p in folder.iterdir():
        if f"{ROWS_DIR}/{p.name}" not in used and p.is_file():
            p.unlink(missing_ok=True)


def remove_staging(staged: Sequence[Path]) -> None:
    """Remove the staging folder of a committed add (its tables are in ``rows/``)."""
    for folder in {p.parent for p in staged}:
        shutil.rmtree(folder, ignore_errors=True)
