"""Embedding NeRF files with a trained nf2vec encoder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from clip2nerf.errors import UserError
from clip2nerf.nf2vec.model import CONFIG_NAME, WEIGHTS_NAME, Nf2vec
from clip2nerf.nf2vec.nerfs import NerfSet, find_nerf_files, load_nerf_set
from clip2nerf.utils.embeddings import EmbeddingTable, ShardHeader
from clip2nerf.utils.executor import (
    ExecutorConfig,
    Shard,
    gpu_wanted,
    make_shards,
    map_shards,
    worker_cached,
)
from clip2nerf.utils.io import atomic_write_json, read_json

READ_CHUNK = 512
"""NeRF files read at a time by ``embed_nerfs`` from a folder (memory bound, not speed)."""


@torch.no_grad()
def embed_matrices(model: Nf2vec, matrices: torch.Tensor, batch_size: int = 256,
                   device: torch.device | str = "cpu", centered: bool = True) -> torch.Tensor:
    """(n, rows, hidden) weight matrices -> (n, embed_dim) L2-normalised float32 on CPU
    (``centered``: see ``Nf2vec.embed``)."""
    if model.training:  # (a mode switch walks every module: a tenth of one file's latency)
        model.eval()
    out = [model.embed(matrices[s:s + batch_size].to(device), centered).cpu()
           for s in range(0, matrices.shape[0], batch_size)]
    return torch.cat(out) if out else torch.zeros(0, model.config.encoder.embed_dim)


def embed_nerfs(model: Nf2vec, nerfs: str | Path | NerfSet, batch_size: int = 256,
                device: torch.device | str = "cpu", progress: bool = False,
                splits: dict[str, str] | None = None) -> EmbeddingTable:
    """Embed NeRF files (a folder, a file, or a loaded set) into an ``EmbeddingTable``.

    ids = object ids, labels = classes, ``extra["sources"]`` = NeRF paths, ``extra["splits"]``
    (from ``splits``, the files or the manifest; "" when unknown), ``space`` = ``model.space``
    (``nf2vec:<name>@<hash>``).
    """
    if isinstance(nerfs, NerfSet):
        vectors = embed_matrices(model, nerfs.matrices, batch_size, device)
        return EmbeddingTable(vectors.numpy(), nerfs.ids, nerfs.classes, model.space,
                              {"sources": nerfs.paths, "splits": nerfs.splits})
    # Files are read READ_CHUNK at a time and only their vectors kept: a loaded NeRF set holds
    # each file's weight matrix and occupied voxels (~1 MB a NeRF), the vectors 4 kB.
    from tqdm import tqdm

    names = [p.name for p in find_nerf_files(nerfs)]
    vectors, ids, classes, sources, split_names = [], [], [], [], []
    # leave=False: the bar is erased when done or on an error (then one "error:" line)
    with tqdm(total=len(names), desc="embed NeRFs", unit="nerf", leave=False,
              disable=not progress) as bar:
        for start in range(0, len(names), READ_CHUNK):
            part = load_nerf_set(nerfs, model.config.nerf, splits=splits, hash_split=False,
                                 output_padding=model.reads_output_padding,
                                 only=names[start:start + READ_CHUNK])
            vectors.append(embed_matrices(model, part.matrices, batch_size, device))
            ids += part.ids
            classes += part.classes
            sources += part.paths
            split_names += part.splits
            bar.update(len(part.ids))
    if len(set(ids)) != len(ids):
        raise UserError(f"--nerfs {nerfs}: duplicate object ids among the NeRF files")
    out = (torch.cat(vectors) if vectors
           else torch.zeros(0, model.config.encoder.embed_dim))
    return EmbeddingTable(out.numpy(), ids, classes, model.space,
                          {"sources": sources, "splits": split_names})


def worker_model(model_dir: str | Path, device: torch.device | str) -> Nf2vec:
    """The nf2vec model of folder ``model_dir`` on ``device``, loaded once per process for the
    shard tasks that use it (``clip2nerf.utils.executor.worker_cached``); rewritten model
    files are loaded again.

    Args:
        model_dir: a folder written by ``Nf2vec.save_pretrained``.
        device: where the model runs.
    """
    folder = Path(model_dir)
    stamp = []
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        try:
            st = (folder / name).stat()
            stamp.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stamp.append(None)
    return worker_cached("nf2vec", (str(folder), str(device), tuple(stamp)),
                         lambda: Nf2vec.from_pretrained(folder, device))


def embed_shard(shard: Shard, model_dir: str, source: str, parts: str, batch_size: int,
                device: str, splits: dict[str, str] | None) -> int:
    """Embed a shard of NeRF file names of folder ``source`` into ``parts/<shard>.safetensors``
    (a Ray task). A part already written by an earlier attempt is kept. Returns its rows."""
    from clip2nerf.utils.device import resolve_device

    path = Path(parts) / f"{shard.name}.safetensors"
    if path.is_file():
        return len(EmbeddingTable.load(path))
    dev = resolve_device(device)
    model = worker_model(model_dir, dev)
    table = embed_nerfs(model, load_nerf_set(source, model.config.nerf, splits=splits,
                                             hash_split=False, only=shard.items,
                                             output_padding=model.reads_output_padding),
                        batch_size, dev)
    table.save(path)
    return len(table)


def parts_dir(out: str | Path) -> Path:
    """Where a sharded ``nf2vec embed`` keeps finished shards until it writes ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def embed_nerfs_sharded(model_dir: str | Path, nerfs: str | Path, out: str | Path,
                        executor: ExecutorConfig, batch_size: int = 256, device: str = "auto",
                        splits: dict[str, str] | None = None,
                        on_shard: Callable[[int], None] | None = None) -> ShardHeader:
    """``embed_nerfs`` over shards of NeRF files run by ``executor``; writes ``out``.

    Each shard becomes ``<out>.parts/shard-NNNNN.safetensors`` (atomically); a rerun of an
    interrupted run keeps the finished parts (``plan.json`` records the files and shard size;
    another plan starts over). When all shards are done they are joined into ``out`` in file
    order — the same table as a local ``embed_nerfs``, streamed part by part, so memory does
    not grow with the number of NeRFs — and the parts folder is removed; returns its header.
    ``on_shard(n_files)`` is called as each shard ends. ``model_dir`` and ``nerfs`` must be
    paths the workers see.
    """
    source = Path(nerfs)
    if not source.is_dir():
        raise UserError(f"--nerfs {source}: a sharded run needs a folder of NeRF files")
    model_space = Nf2vec.from_pretrained(model_dir, "cpu").space
    names = [p.name for p in find_nerf_files(source)]
    shards = make_shards(names, executor.shard_size)
    parts = parts_dir(out)
    plan = {"model": model_space, "nerfs": str(source.resolve()), "files": names,
            "shard_size": executor.shard_size, "splits": splits or {}}
    if parts.exists() and (not (parts / "plan.json").is_file()
                           or read_json(parts / "plan.json", "shard plan") != plan):
        shutil.rmtree(parts)  # another run's parts: start over
    parts.mkdir(parents=True, exist_ok=True)
    atomic_write_json(parts / "plan.json", plan)

    todo = []
    for shard in shards:
        if (parts / f"{shard.name}.safetensors").is_file():
            if on_shard:
                on_shard(len(shard.items))
        else:
            todo.append(shard)
    for shard, _ in map_shards(embed_shard, todo,
                               (str(model_dir), str(source), str(parts), batch_size, device,
                                splits), executor, use_gpu=gpu_wanted(device)):
        if on_shard:
            on_shard(len(shard.items))
    from clip2nerf.utils.embeddings_join import join_embedding_files

    # streamed: one part's vectors in memory at a time, whatever the number of NeRFs
    joined = join_embedding_files([parts / f"{s.name}.safetensors" for s in shards], out,
                                  expect_space=model_space)
    shutil.rmtree(parts, ignore_errors=True)
    return joined


__all__ = ["embed_matrices", "embed_nerfs", "embed_nerfs_sharded", "embed_shard", "parts_dir",
           "worker_model"]
