"""Write augmented images of a dataset's objects as a new dataset folder (same format).

The output is a clip2nerf dataset (``clip2nerf.data.dataset``) so that every tool that reads
views reads it too (``clip2nerf vlm embed-views`` in particular): object ids are the source
objects' ids, each augmented image is a view ``views/NN.png`` (opaque RGB) whose camera is the
pose of the view it was made from, with provenance per image in ``meta.json``::

    OUT/dataset.json        format, classes, "augment": the run's settings, "complete"
    OUT/splits/<split>.txt  the augmented split (the other split files are empty)
    OUT/objects/<id>/meta.json        the source meta + "augment": {"settings_sha1", "images": [
                                      {"view", "source_view", "seed", ... kind-specific ...}]}
    OUT/objects/<id>/transforms.json  w, h, camera_angle_x of the source; frames[] with the
                                      source view's pose ("source_view" names it)
    OUT/objects/<id>/views/NN.png     the augmented images
    OUT/objects/<id>/masks/NN.png     (photo) the object's alpha on the canvas, 8-bit
    OUT/objects/<id>/control/NN.png   (controlnet) the depth image the generation was given

Resumable: each object folder is written atomically and skipped on a rerun with the same
settings; the split files are written last, so a half-finished folder is not mistaken for a
dataset by ``embed-views``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.data.dataset import (
    DATASET_FILE,
    DATASET_FORMAT,
    DATASET_VERSION,
    SPLITS,
    ObjectRecord,
)
from clip2nerf.errors import UserError
from clip2nerf.utils.io import atomic_dir, atomic_write_json, atomic_write_text


@dataclass
class AugmentedImage:
    """One generated image of an object and where it came from."""

    rgb: np.ndarray
    """(S, S, 3) uint8."""
    source_view: int
    provenance: dict[str, Any] = field(default_factory=dict)
    mask: np.ndarray | None = None
    """(S, S) float32 in [0, 1]: the object's footprint, when the augmentation knows it."""
    control: np.ndarray | None = None
    """(S, S, 3) uint8 conditioning image (ControlNet's depth map), saved as ``control/NN.png``."""


def hash_seed(*parts: object) -> int:
    """63 bits of a SHA-256 of ``parts`` joined by '/': a seed per image that depends on
    nothing else (order of work, other objects), so reruns and shards agree."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def settings_sha1(settings: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _prepare_out(out: Path, info: dict[str, Any], overwrite: bool) -> None:
    info_path = out / DATASET_FILE
    if out.exists() and any(out.iterdir()):
        if overwrite:
            # Only an augmentation this command wrote is replaced: never a source dataset or
            # another folder that --out happens to name.
            try:
                old = json.loads(info_path.read_text())
            except (OSError, ValueError):
                old = None
            if not isinstance(old, dict) or "augment" not in old:
                raise UserError(f"--out {out} holds something other than an augmentation; "
                                "refusing to replace it (choose another --out)")
            shutil.rmtree(out)
        else:
            try:
                old = json.loads(info_path.read_text())
            except (OSError, ValueError):
                old = None
            if old is None or old.get("augment") != info["augment"]:
                raise UserError(f"--out {out} already holds other data or an augmentation with "
                                "other settings; pass --overwrite or choose another --out")
            return  # same settings: resume
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(info_path, {**info, "complete": False})


def write_augmented(ds, out: str | Path, split: str, settings: dict[str, Any],
                    make_images: Callable[[ObjectRecord], list[AugmentedImage]],
                    overwrite: bool = False, progress: bool = True,
                    log: Callable[[str], None] = print) -> Path:
    """Augment every object of ``split`` with ``make_images`` into ``out`` (resumable)."""
    from PIL import Image
    from tqdm import tqdm

    out = Path(out)
    ids = ds.split_ids(split)
    settings = json.loads(json.dumps(settings))  # as it reads back (tuples become lists)
    kind = settings.get("kind", "augment")
    info = {"format": DATASET_FORMAT, "version": DATASET_VERSION,
            "name": f"{ds.name}-{kind}-{split}", "classes": list(ds.classes),
            "augment": settings}
    _prepare_out(out, info, overwrite)
    sha = settings_sha1(settings)
    done = skipped = 0
    for oid in tqdm(ids, desc=f"augment {kind}", unit="obj", disable=not progress):
        target = out / "objects" / oid
        try:
            meta_old = json.loads((target / "meta.json").read_text())
        except (OSError, ValueError):
            meta_old = None
        if meta_old is not None and meta_old.get("augment", {}).get("settings_sha1") == sha:
            skipped += 1
            continue
        obj = ds.get(oid)
        images = make_images(obj)
        _write_object(target, obj, images, sha, Image)
        done += 1
    for s in SPLITS:
        atomic_write_text(out / "splits" / f"{s}.txt", "".join(f"{i}\n" for i in ids)
                          if s == split else "")
    atomic_write_json(out / DATASET_FILE, {**info, "complete": True})
    log(f"wrote {out}: {len(ids)} objects ({done} augmented now, {skipped} already done)")
    return out


def _write_object(target: Path, obj: ObjectRecord, images: list[AugmentedImage], sha: str,
                  Image) -> None:
    if not images:
        raise RuntimeError(f"object {obj.object_id}: the augmentation made no images")
    size = images[0].rgb.shape[0]
    poses = obj.poses() if obj.has_poses else None
    frames, records = [], []
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "views").mkdir()
        for k, im in enumerate(images):
            if im.rgb.shape != (size, size, 3) or im.rgb.dtype != np.uint8:
                raise RuntimeError(f"augmented image has shape {im.rgb.shape} {im.rgb.dtype}")
            name = f"{k:02d}.png"
            Image.fromarray(im.rgb).save(tmp / "views" / name)
            if im.mask is not None:
                (tmp / "masks").mkdir(exist_ok=True)
                Image.fromarray(np.round(im.mask * 255).astype(np.uint8)).save(tmp / "masks" / name)
            if im.control is not None:
                (tmp / "control").mkdir(exist_ok=True)
                Image.fromarray(im.control).save(tmp / "control" / name)
            pose = poses[im.source_view] if poses is not None else np.eye(4, dtype=np.float32)
            frames.append({"file_path": f"views/{name}", "source_view": im.source_view,
                           "transform_matrix": np.asarray(pose, float).tolist()})
            records.append({"view": k, "source_view": im.source_view, **im.provenance})
        fov = 2.0 * float(np.arctan(0.5 * obj.intrinsics.width / obj.intrinsics.fx))
        atomic_write_json(tmp / "transforms.json", {
            "camera_angle_x": fov, "w": size, "h": size,
            "note": "poses are the source views'; crops, scaling and placement are not modelled "
                    "by the intrinsics",
            "frames": frames})
        meta = {k: v for k, v in obj.meta.items() if k != "augment"}
        meta.update({"object_id": obj.object_id, "class": obj.class_name,
                     "caption": obj.caption,
                     "augment": {"settings_sha1": sha, "images": records}})
        atomic_write_json(tmp / "meta.json", meta)
