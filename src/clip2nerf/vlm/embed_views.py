"""Embed every view of every object of a dataset with a VLM (``clip2nerf vlm embed-views``).

Output: a folder of :class:`~clip2nerf.utils.embeddings.EmbeddingTable` shards, one per chunk of
objects, read back whole with ``load_embeddings(folder)``:

    vectors           (n_objects, n_views, d) float32, L2-normalised rows
    ids / labels      object ids / classes
    space             ``"vlm:" + model.name``
    extra             ``view_ids`` (per object: the view file stems), ``dataset``, ``split``

Resumable and never half-visible: shards are written atomically into a hidden
``.<out>.partial`` folder beside ``out``; a rerun skips shards already there; the folder is
renamed to ``out`` only when every object is embedded. Works on any folder in the dataset
format, so views rendered from fitted NeRFs are embedded the same way. With a Ray executor
(``clip2nerf.utils.executor``) each missing shard is a Ray task that loads the VLM from its
``--vlm`` spec on the worker (:func:`embed_views_shard`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.utils.embeddings import EmbeddingTable, load_embeddings, read_header
from clip2nerf.utils.executor import ExecutorConfig, Shard, gpu_wanted, map_shards, worker_cached
from clip2nerf.vlm.base import VisionLanguageModel

SHARD_PATTERN = "views-{:05d}.safetensors"


def partial_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def embed_views(data: str | Path, out: str | Path, vlm: VisionLanguageModel,
                split: str | None = None, chunk_objects: int = 16, overwrite: bool = False,
                progress: bool = True, log: Callable[[str], None] = print,
                leave_one_out: bool = True, executor: ExecutorConfig | None = None,
                vlm_spec: tuple[str, str, int | None] | None = None) -> EmbeddingTable:
    """Embed all views of the objects of ``split`` (None/"all" = every object) into ``out``.

    ``executor`` ``ray``: the missing shards are Ray tasks; each loads the VLM from
    ``vlm_spec = (--vlm, --device, --batch-size)`` on its worker (``vlm`` must be that model:
    its space names the shards).

    ``leave_one_out``: for a model that supports it (the offline knn tower), an object the model
    was built from is embedded without its own views in the memory, so training objects get
    embeddings like unseen ones (see ``OfflineVLM.embed_object_views``). Recorded in ``extra``.

    Returns the full table. An existing complete ``out`` in the same space with the same object
    ids is returned as is; anything else there needs ``overwrite``.
    """
    from clip2nerf.data.layouts import open_dataset

    if chunk_objects < 1:
        raise UserError(f"--chunk must be >= 1, got {chunk_objects}")
    ds = open_dataset(data)
    ids = ds.split_ids(split)
    out = Path(out)
    if out.exists():
        if not overwrite:
            try:
                done = load_embeddings(out)
            except UserError:
                done = None
            if done is not None and done.space == vlm.space and done.ids == ids:
                log(f"{out} already holds {len(ids)} objects embedded by {vlm.name}; nothing to do")
                return done
            raise UserError(f"--out {out} already exists with other embeddings; pass --overwrite "
                            "or choose another --out")
    work = partial_dir(out)
    fresh = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    try:
        n_views = _embed_chunks(ds, work, ids, vlm, split, chunk_objects, progress,
                                leave_one_out, executor, vlm_spec)
    except BaseException:
        if fresh and not any(work.iterdir()):
            work.rmdir()  # nothing to resume: leave no empty folder behind
        raise
    chunks = [ids[i:i + chunk_objects] for i in range(0, len(ids), chunk_objects)]
    # Shards of an older, longer run with other chunking would be read too: drop them.
    keep = {SHARD_PATTERN.format(k) for k in range(len(chunks))}
    for stale in work.glob("*.safetensors"):
        if stale.name not in keep:
            stale.unlink()
    table = load_embeddings(work, expect_space=vlm.space)
    if table.ids != ids:
        raise RuntimeError(f"{work}: shards hold {len(table.ids)} ids, expected {len(ids)}")
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    log(f"wrote {out}: {len(ids)} objects x {n_views} views x {vlm.dim} ({vlm.space})")
    return table


def _embed_chunks(ds, work: Path, ids: list[str], vlm: VisionLanguageModel, split: str | None,
                  chunk_objects: int, progress: bool, leave_one_out: bool,
                  executor: ExecutorConfig | None,
                  vlm_spec: tuple[str, str, int | None] | None) -> int | None:
    """Embed the objects chunk by chunk into ``work`` shards (skipping shards already there),
    locally or as Ray tasks (see ``embed_views``); returns the common number of views."""
    from tqdm import tqdm

    chunks = [ids[i:i + chunk_objects] for i in range(0, len(ids), chunk_objects)]
    n_views: int | None = None
    bar = tqdm(total=len(ids), desc=f"embed-views ({vlm.name})", unit="obj", disable=not progress)
    todo: list[Shard] = []
    for k, chunk in enumerate(chunks):
        table = _valid_shard(work / SHARD_PATTERN.format(k), vlm.space, chunk)
        if table is not None:
            n_views = _check_views(n_views, table.vectors.shape[1], chunk[0])
            bar.update(len(chunk))
        else:
            todo.append(Shard(k, chunk))
    if executor is not None and executor.kind != "local":
        if vlm_spec is None:
            raise ValueError("a Ray executor needs vlm_spec to load the VLM on its workers")
        args = (str(ds.root), str(work), vlm_spec, vlm.space, split, leave_one_out)
        for shard, _ in map_shards(embed_views_shard, todo, args, executor,
                                   use_gpu=gpu_wanted(vlm_spec[1])):
            bar.update(len(shard.items))
        for k in range(len(chunks)):
            path = work / SHARD_PATTERN.format(k)
            n_views = _check_views(n_views, read_header(path).shape[1], chunks[k][0])
    else:
        for shard in todo:
            n_views = _embed_chunk(ds, shard.items, vlm, split, leave_one_out,
                                   work / SHARD_PATTERN.format(shard.index), n_views)
            bar.update(len(shard.items))
    bar.close()
    return n_views


def _valid_shard(path: Path, space: str, chunk: list[str]) -> EmbeddingTable | None:
    """The shard at ``path`` if it is complete and holds ``chunk`` in ``space``, else None."""
    if not path.exists():
        return None
    try:
        table = EmbeddingTable.load(path)
    except UserError:
        return None  # a corrupt shard is recomputed
    return table if table.space == space and table.ids == chunk else None


def _embed_chunk(ds, chunk: list[str], vlm: VisionLanguageModel, split: str | None,
                 leave_one_out: bool, path: Path, n_views: int | None) -> int | None:
    """Embed the views of the objects ``chunk`` into the shard file ``path`` (atomically)."""
    objs = [ds.get(oid) for oid in chunk]
    for o in objs:
        n_views = _check_views(n_views, o.n_views, o.object_id)
    if leave_one_out and hasattr(vlm, "embed_object_views"):
        emb = np.stack([vlm.embed_object_views(o.load_views(), o.object_id) for o in objs])
    else:
        images = np.concatenate([o.load_views() for o in objs])  # (c * v, H, W, 4)
        emb = vlm.embed_images(images).reshape(len(objs), -1, vlm.dim)
    EmbeddingTable(
        emb, chunk, [o.class_name for o in objs], vlm.space,
        {"view_ids": [[f.image_path.stem for f in o.frames] for o in objs],
         "dataset": ds.name, "split": split or "all",
         "leave_one_out": bool(leave_one_out and hasattr(vlm, "embed_object_views"))},
    ).save(path)
    return n_views


def embed_views_shard(shard: Shard, data: str, work: str, vlm_spec: tuple[str, str, int | None],
                      space: str, split: str | None, leave_one_out: bool) -> int:
    """Embed one shard of objects (a Ray task); a shard already complete is kept.

    The VLM is loaded from ``vlm_spec`` once per worker process; one that loads into another
    space than the driver's ``space`` is refused (workers must see the same model files).
    """
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.vlm.factory import load_vlm

    path = Path(work) / SHARD_PATTERN.format(shard.index)
    if _valid_shard(path, space, shard.items) is not None:
        return len(shard.items)
    vlm = worker_cached("vlm", tuple(vlm_spec), lambda: load_vlm(*vlm_spec))
    if vlm.space != space:
        raise UserError(f"--vlm {vlm_spec[0]}: a Ray worker loaded {vlm.space!r}, the driver "
                        f"{space!r}; workers must see the same model files")
    _embed_chunk(open_dataset(data), shard.items, vlm, split, leave_one_out, path, None)
    return len(shard.items)


def _check_views(n_views: int | None, n: int, object_id: str) -> int:
    if n_views is not None and n != n_views:
        raise UserError(f"object {object_id} has {n} views but earlier objects have {n_views}; "
                        "embed-views stores (n_objects, n_views, d) and needs equal view counts")
    return n
