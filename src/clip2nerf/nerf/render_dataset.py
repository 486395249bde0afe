"""Render every object's dataset views from its fitted NeRF, into a new dataset folder.

The result has the same layout as the source dataset (``dataset.json``, ``splits/``,
``objects/<id>/{meta.json, transforms.json, views/NN.png}``; no depth maps), so the VLM and
the mapping trainers read "rendered" views exactly as they read ground-truth ones (the paper's
"rendered" variants). One object folder is written atomically at a time; a rerun skips
objects already rendered, so an interrupted run resumes. With a Ray executor
(``clip2nerf.utils.executor``) shards of objects are Ray tasks (:func:`render_shard`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.utils.executor import ExecutorConfig, Shard, gpu_wanted, make_shards, map_shards
from clip2nerf.utils.io import atomic_dir, atomic_write_json


def render_object_views(nerf, poses: np.ndarray, intrinsics, n_samples: int = 128,
                        device: str = "cpu") -> np.ndarray:
    """Views of one NeRF (a file or a loaded ``NerfFile``) from ``poses: (v, 4, 4)``.

    Returns ``(v, H, W, 4)`` uint8 RGBA; alpha is the rendered opacity, so the views composite
    on any background like the dataset's.
    """
    import torch

    from clip2nerf.nerf.io import NerfFile, load_nerf
    from clip2nerf.nerf.render import render_image

    nf = nerf if isinstance(nerf, NerfFile) else load_nerf(nerf)
    field = nf.field.to(device)
    occ = nf.occupancy.to(device) if nf.occupancy is not None else None
    out = []
    with torch.no_grad():
        for c2w in poses:
            # Render on black: rgb = premultiplied colour, so colour = rgb / alpha.
            img = render_image(field, intrinsics, c2w, nf.aabb.to(device), occ,
                               n_samples=n_samples, bg_color=0.0, device=device).numpy()
            alpha = img[..., 3:4]
            rgb = np.where(alpha > 1e-4, img[..., :3] / np.maximum(alpha, 1e-4), 1.0)
            out.append(np.concatenate([rgb.clip(0, 1), alpha], -1))
    return (np.stack(out) * 255 + 0.5).astype(np.uint8)


def render_dataset(nerfs_dir: str | Path, data: str | Path, out: str | Path,
                   ids: Sequence[str] | None = None, resolution: int | None = None,
                   n_samples: int = 128, device: str = "cpu", progress: bool = True,
                   executor: ExecutorConfig | None = None, threads: int = 1) -> Path:
    """Render the views of ``ids`` (default: every object) of ``data`` from their NeRFs.

    Args:
        nerfs_dir: folder of ``<object_id>.safetensors`` files (``clip2nerf fit``).
        resolution: view size in pixels (default: the dataset's).
        executor: ``ray`` renders shards of objects as Ray tasks (``device`` may then be
            ``auto``: it is resolved on each worker; ``threads`` torch threads per task).
    Returns:
        ``out``, a dataset folder whose ``dataset.json`` records the NeRF folder.
    """
    from tqdm import tqdm

    from clip2nerf.data.dataset import DATASET_FILE, DATASET_FORMAT, DATASET_VERSION, SPLITS
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.data.shapenet import ShapeNetRenderDataset
    from clip2nerf.nerf.manifest import nerf_path
    from clip2nerf.utils.io import atomic_write_text

    ds = open_dataset(data)
    ids = list(ids) if ids is not None else ds.object_ids()
    out = Path(out)
    missing = [i for i in ids if not nerf_path(Path(nerfs_dir), i).is_file()]
    if missing:
        raise UserError(f"--nerfs {nerfs_dir}: no NeRF for {len(missing)} objects (e.g. "
                        f"{missing[0]}); fit them with `clip2nerf fit`")
    (out / "objects").mkdir(parents=True, exist_ok=True)
    # Written in the clip2nerf format whatever the source's layout (a ShapeNetRender / nf2vec
    # tree too), with the source's splits as split files (a tree's come from its
    # {train,val,test}.txt, which the copy would not have).
    info = {**ds.info, "format": DATASET_FORMAT, "version": DATASET_VERSION,
            "name": f"{ds.name}-rendered", "rendered_from": str(Path(nerfs_dir)),
            "source_dataset": str(Path(data))}
    if resolution is not None:
        info["res"] = resolution
    if (Path(data) / "splits").is_dir():
        shutil.copytree(Path(data) / "splits", out / "splits", dirs_exist_ok=True)
    elif isinstance(ds, ShapeNetRenderDataset):  # its splits are {train,val,test}.txt
        (out / "splits").mkdir(exist_ok=True)
        rendered = set(ids)
        for split in SPLITS:
            split_ids = [i for i in ds.object_ids(split) if i in rendered]
            atomic_write_text(out / "splits" / f"{split}.txt",
                              "".join(f"{i}\n" for i in split_ids))
    todo = [oid for oid in ids if not _rendered(out, oid)]
    bar = tqdm(total=len(ids), initial=len(ids) - len(todo), desc="render views from NeRFs",
               unit="obj", disable=not progress)
    if executor is not None and executor.kind != "local":
        args = (str(data), str(nerfs_dir), str(out), resolution, n_samples, device, threads)
        for shard, _ in map_shards(render_shard, make_shards(todo, executor.shard_size), args,
                                   executor, use_gpu=gpu_wanted(device)):
            bar.update(len(shard.items))
    else:
        for oid in todo:
            _render_object(ds, nerfs_dir, out, oid, resolution, n_samples, device)
            bar.update(1)
    bar.close()
    atomic_write_json(out / DATASET_FILE, info)
    return out


def _rendered(out: Path, oid: str) -> bool:
    return (out / "objects" / oid / "transforms.json").is_file()


def render_shard(shard: Shard, data: str, nerfs_dir: str, out: str, resolution: int | None,
                 n_samples: int, device: str, threads: int) -> int:
    """Render a shard of object ids (a Ray task); objects already rendered are skipped."""
    import torch

    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.utils.device import resolve_device

    if threads > 0:
        torch.set_num_threads(threads)
    dev = str(resolve_device(device))
    ds = open_dataset(data)
    for oid in shard.items:
        if not _rendered(Path(out), oid):
            _render_object(ds, nerfs_dir, Path(out), oid, resolution, n_samples, dev)
    return len(shard.items)


def _render_object(ds, nerfs_dir: str | Path, out: Path, oid: str, resolution: int | None,
                   n_samples: int, device: str) -> None:
    """Render one object's views into ``out/objects/<oid>`` (one atomic folder)."""
    from PIL import Image

    from clip2nerf.nerf.manifest import nerf_path

    target = out / "objects" / oid
    rec = ds.get(oid)
    intr = rec.intrinsics if resolution is None else rec.intrinsics.scaled(resolution,
                                                                            resolution)
    views = render_object_views(nerf_path(Path(nerfs_dir), oid), rec.poses(), intr,
                                n_samples, device)
    # overwrite: a half-written folder of a lost worker is never there (atomic), but a retried
    # task may race a straggler of its first attempt; the last complete folder wins.
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "views").mkdir()
        frames = []
        for fr, img in zip(rec.frames, views, strict=True):
            name = f"views/{fr.image_path.stem}.png"
            Image.fromarray(img, "RGBA").save(tmp / name)
            frames.append({"file_path": name, "transform_matrix": fr.c2w.tolist()})
        atomic_write_json(tmp / "transforms.json", {
            "w": intr.width, "h": intr.height, "fl_x": intr.fx, "fl_y": intr.fy,
            "cx": intr.cx, "cy": intr.cy, "aabb": [list(rec.aabb[0]), list(rec.aabb[1])],
            "frames": frames})
        atomic_write_json(tmp / "meta.json", {**json.loads(json.dumps(rec.meta)),
                                              "rendered_from": str(nerf_path(Path(nerfs_dir),
                                                                             oid))})
