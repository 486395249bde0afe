"""Reader for ShapeNetRender / nf2vec-style render trees, with the same API as ``Dataset``.

Layout (one folder per class, named by ShapeNet synset id or by class name, then one folder per
object)::

    ROOT/<synset or class>/<object>/
        transforms_train.json   nf2vec / NeRF-synthetic style: camera_angle_x, frames[].file_path
        [transforms_val.json, transforms_test.json]   (paths may omit ".png"), transform_matrix
      or transforms.json
      or only PNG views (in the folder or in rendering/, images/, train/, views/): views without cameras

Object ids are ``<class name>_<object folder>`` (the ids ``clip2nerf import nerfs`` gives the
same objects' NeRFs). Splits come from ``ROOT/splits/<split>.txt`` (object ids), else nf2vec's
``train.json``/``validation.json``/``test.json`` (lists of object paths), else gmnerf's
``{train,val,test}.txt`` (lines ``<class>/<object>``) in ROOT or its parent, else a seeded
stratified 80/10/10 split.

What the reference code reads (nf2vec ``nerf/loader.py::_load_renderings``): per object
``transforms_{split}.json`` with ``camera_angle_x`` and ``frames[].transform_matrix``
(camera-to-world, OpenGL axes), images at ``frames[].file_path + ".png"`` (RGBA, 224 x 224,
``./train/<i>``), focal ``0.5 · W / tan(camera_angle_x / 2)``. gmnerf and nf2vec's
ground-truth loader read ``transforms_{split}_compressed.json`` instead: the same cameras
without images (they render the NeRF); such folders have no views to read here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.classes import SYNSET_TO_CLASS
from clip2nerf.data.dataset import (
    DATASET_FILE,
    SPLITS,
    Dataset,
    DatasetError,
    Frame,
    Intrinsics,
    ObjectRecord,
    check_object_ids,
    read_id_list,
    read_transforms,
)
from clip2nerf.data.splits import stratified_splits
from clip2nerf.errors import UserError

SHAPENET_FORMAT = "shapenet-render"
TRANSFORMS_FILES = ("transforms.json", "transforms_train.json", "transforms_val.json",
                    "transforms_test.json")
VIEW_FOLDERS = ("", "rendering", "images", "train", "views")
_NF2VEC_SPLIT_FILES = {"train": "train.json", "val": "validation.json", "test": "test.json"}


def _natural_key(p: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def _object_kind(obj_dir: Path) -> str | None:
    """"transforms" if the folder has a camera json, "views" if only PNGs, None if neither."""
    if any((obj_dir / n).is_file() for n in TRANSFORMS_FILES):
        return "transforms"
    for sub in VIEW_FOLDERS:
        folder = obj_dir / sub if sub else obj_dir
        if folder.is_dir() and any(folder.glob("*.png")):
            return "views"
    return None


def looks_like_shapenet_render(root: Path) -> bool:
    """True if ``root`` has class folders holding object folders with views or cameras."""
    if not root.is_dir() or (root / DATASET_FILE).exists():
        return False
    if (root / "objects").is_dir() and (root / "splits").is_dir():
        return False  # a clip2nerf dataset that lost its dataset.json: let Dataset say so
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for obj_dir in sorted(p for p in class_dir.iterdir() if p.is_dir())[:3]:
            if _object_kind(obj_dir) is not None:
                return True
    return False


class ShapeNetRenderDataset(Dataset):
    """A ShapeNetRender / nf2vec render tree (see module docstring); same API as ``Dataset``."""

    def __init__(self, root: str | Path, seed: int = 0):
        self.root = Path(root)
        if not looks_like_shapenet_render(self.root):
            raise DatasetError(f"{self.root}: not a ShapeNetRender tree (expected "
                               "<class>/<object>/ folders with transforms*.json or PNG views)")
        self._dirs: dict[str, tuple[str, Path]] = {}
        for class_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
                                and p.name != "splits"):
            cls = SYNSET_TO_CLASS.get(class_dir.name, class_dir.name)
            for obj_dir in sorted(p for p in class_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                oid = f"{cls}_{obj_dir.name}"
                if oid in self._dirs:
                    raise DatasetError(f"{self.root}: two object folders give the id {oid} "
                                       f"({self._dirs[oid][1]} and {obj_dir})")
                self._dirs[oid] = (cls, obj_dir)
        self.classes = sorted({c for c, _ in self._dirs.values()})
        self.seed = seed
        self.info = {"format": SHAPENET_FORMAT, "name": self.root.name, "classes": self.classes,
                     "counts": {"objects": len(self._dirs)}}

    def object_ids(self, split: str | None = None) -> list[str]:
        if split is None or split == "all":
            return sorted(self._dirs)
        if split not in SPLITS:
            raise UserError(f"--split {split!r}: expected one of {', '.join(SPLITS)} or all")
        own = self.root / "splits" / f"{split}.txt"
        if own.is_file():
            return check_object_ids(read_id_list(own, "split file", DatasetError), own)
        nf2vec = self.root / _NF2VEC_SPLIT_FILES[split]
        if nf2vec.is_file():
            return self._nf2vec_split(nf2vec)
        for folder in (self.root, self.root.parent):
            if (folder / f"{split}.txt").is_file():
                lines = (folder / f"{split}.txt").read_text("utf-8").splitlines()
                ids = self._nf2vec_split_entries([ln.strip() for ln in lines if ln.strip()])
                if ids:  # a split file of this tree (not some unrelated train.txt)
                    return ids
        by_class: dict[str, list[str]] = {}
        for oid, (cls, _) in self._dirs.items():
            by_class.setdefault(cls, []).append(oid)
        return stratified_splits(by_class, self.seed)[split]

    def _nf2vec_split(self, path: Path) -> list[str]:
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            entries = None
        if not isinstance(entries, list):
            raise DatasetError(f"{path}: expected a JSON list of object folder paths")
        return self._nf2vec_split_entries(entries)

    def _nf2vec_split_entries(self, entries: list[Any]) -> list[str]:
        by_parts = {(d.parent.name, d.name): oid for oid, (_, d) in self._dirs.items()}
        ids = []
        for e in entries:
            parts = Path(str(e)).parts
            oid = by_parts.get(tuple(parts[-2:]))  # type: ignore[arg-type]
            if oid is not None:
                ids.append(oid)
        return ids

    def get(self, object_id: str) -> ObjectRecord:
        if object_id not in self._dirs:
            raise DatasetError(f"object {object_id}: not in {self.root}")
        cls, obj_dir = self._dirs[object_id]
        kind = _object_kind(obj_dir)
        meta: dict[str, Any] = {"object_id": object_id, "class": cls,
                                "synset": obj_dir.parent.name, "source": str(obj_dir)}
        if kind == "transforms":
            intr, frames = self._read_cameras(obj_dir, object_id)
            return ObjectRecord(object_id, cls, obj_dir, intr, frames, None, meta)
        if kind == "views":
            return self._views_only(obj_dir, object_id, cls, meta)
        compressed = " (only cameras: transforms_*_compressed.json)" if any(
            obj_dir.glob("transforms_*_compressed.json")) else ""
        raise DatasetError(f"object {object_id}: {obj_dir} has no transforms*.json and no PNG "
                           f"views{compressed}")

    @staticmethod
    def _read_cameras(obj_dir: Path, object_id: str) -> tuple[Intrinsics, list[Frame]]:
        if (obj_dir / "transforms.json").is_file():
            intr, frames, _ = read_transforms(obj_dir, object_id, "transforms.json")
            return intr, frames
        intr, frames = None, []
        for name in TRANSFORMS_FILES[1:]:
            if (obj_dir / name).is_file():
                i2, f2, _ = read_transforms(obj_dir, object_id, name)
                if intr is not None and i2 != intr:
                    raise DatasetError(f"object {object_id}: {obj_dir / name} has other intrinsics "
                                       "than the first transforms file")
                intr = intr or i2
                frames += [Frame(len(frames) + k, f.image_path, f.depth_path, f.c2w) for k, f in enumerate(f2)]
        if intr is None:  # the transforms file went away since the folder was classified
            raise DatasetError(f"object {object_id}: {obj_dir} has no transforms*.json")
        return intr, frames

    @staticmethod
    def _views_only(obj_dir: Path, object_id: str, cls: str, meta: dict[str, Any]) -> ObjectRecord:
        from clip2nerf.utils.images import image_size

        for sub in VIEW_FOLDERS:
            folder = obj_dir / sub if sub else obj_dir
            pngs = sorted(folder.glob("*.png"), key=_natural_key) if folder.is_dir() else []
            if pngs:
                break
        w, h = image_size(pngs[0], "view", DatasetError, owner=f"object {object_id}: ")
        nan = float("nan")
        frames = [Frame(i, p, None, np.full((4, 4), np.nan, np.float32)) for i, p in enumerate(pngs)]
        meta["poses"] = "unknown: no transforms json"
        return ObjectRecord(object_id, cls, obj_dir, Intrinsics(w, h, nan, nan, nan, nan), frames,
                            None, meta, has_poses=False)
