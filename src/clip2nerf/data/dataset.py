"""The on-disk multi-view dataset format and its reader.

Layout (one folder per object, cameras in the NeRF / nerfstudio ``transforms.json`` convention)::

    DATA/
      dataset.json                 {"format": "clip2nerf-dataset", "version": 1, "classes": [...], ...}
      splits/train.txt             object ids, one per line (also val.txt, test.txt)
      objects/<object_id>/
        meta.json                  {"object_id", "class", "caption", "colors": {part: colour}, ...}
        transforms.json            camera_angle_x, w, h, fl_x, fl_y, cx, cy, aabb, depth_scale,
                                   frames[]: file_path, depth_file_path, transform_matrix
        views/NN.png               RGBA, transparent background
        depth/NN.png               16-bit depth along the camera axis, ``depth_scale`` metres per
                                   unit; 0 = background

World frame: +Z up, object centred at the origin inside ``aabb``. Cameras: camera-to-world
4x4 matrices, OpenGL/Blender convention (camera looks down its -Z axis, +Y up), as in NeRF.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.camera import Intrinsics
from clip2nerf.data.schema import DATASET_FORMAT, DATASET_VERSION  # noqa: F401 (re-exported: writers read them here)
from clip2nerf.errors import UserError
from clip2nerf.utils.io import read_json

DATASET_FILE = "dataset.json"
"""The file that makes a folder a clip2nerf dataset (format, version, classes, ...)."""
SPLITS = ("train", "val", "test")
DEFAULT_AABB = ((-0.7, -0.7, -0.7), (0.7, 0.7, 0.7))
"""nf2vec's object box; synth normalises objects to fit inside it."""


class DatasetError(UserError):
    """A dataset file is missing or corrupt; the message names the object and the file."""


@dataclass(frozen=True)
class Frame:
    """One view: its image and depth files and its camera-to-world matrix (4x4 float32)."""

    index: int
    image_path: Path
    depth_path: Path | None
    c2w: np.ndarray


@dataclass
class ObjectRecord:
    """One object of a dataset: metadata, cameras and lazily loaded views/depths."""

    object_id: str
    class_name: str
    root: Path
    intrinsics: Intrinsics
    frames: list[Frame]
    caption: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    aabb: tuple[tuple[float, float, float], tuple[float, float, float]] = DEFAULT_AABB
    depth_scale: float | None = None
    has_poses: bool = True
    """False for view-only objects (a render tree without cameras): ``poses()`` then raises."""

    @property
    def n_views(self) -> int:
        return len(self.frames)

    def poses(self) -> np.ndarray:
        """(n_views, 4, 4) float32 camera-to-world matrices."""
        if not self.has_poses:
            raise DatasetError(f"object {self.object_id}: no camera poses ({self.root} has views "
                               "but no transforms json)")
        return np.stack([f.c2w for f in self.frames]).astype(np.float32)

    def load_view(self, i: int) -> np.ndarray:
        """(H, W, 4) uint8 RGBA view ``i`` (RGB files get an opaque alpha)."""
        return _read_rgba(self.frames[i].image_path, self.object_id, self.intrinsics)

    def load_views(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """(n, H, W, 4) uint8 RGBA views (all of them by default)."""
        idx = range(self.n_views) if indices is None else indices
        return np.stack([self.load_view(i) for i in idx])

    def load_depth(self, i: int) -> np.ndarray:
        """(H, W) float32 depth along the camera's viewing axis; 0 where nothing was hit."""
        frame = self.frames[i]
        if frame.depth_path is None or self.depth_scale is None:
            raise DatasetError(f"object {self.object_id}: view {i} has no depth map")
        raw = _read_image_array(frame.depth_path, self.object_id, "depth16")
        if raw.ndim != 2 or raw.shape != (self.intrinsics.height, self.intrinsics.width):
            raise DatasetError(f"object {self.object_id}: depth {frame.depth_path} has shape "
                               f"{raw.shape}, expected {(self.intrinsics.height, self.intrinsics.width)}")
        return raw.astype(np.float32) * np.float32(self.depth_scale)

    def load_depths(self, indices: Sequence[int] | None = None) -> np.ndarray:
        idx = range(self.n_views) if indices is None else indices
        return np.stack([self.load_depth(i) for i in idx])


def _read_image_array(path: Path, object_id: str, mode: str = "rgba") -> np.ndarray:
    """A view (``rgba``) or depth map (``depth16``) through the guarded loader."""
    from clip2nerf.utils.images import load_image

    kind = "depth map" if mode == "depth16" else "view"
    return load_image(path, mode, kind, DatasetError, owner=f"object {object_id}: ")  # type: ignore[arg-type]


def _read_rgba(path: Path, object_id: str, intr: Intrinsics) -> np.ndarray:
    arr = _read_image_array(path, object_id, "rgba")
    if arr.shape[:2] != (intr.height, intr.width):
        raise DatasetError(f"object {object_id}: view {path} is {arr.shape[1]}x{arr.shape[0]}, "
                           f"transforms.json says {intr.width}x{intr.height}")
    return arr


def read_transforms(obj_dir: Path, object_id: str, transforms_name: str = "transforms.json"
                    ) -> tuple[Intrinsics, list[Frame], dict[str, Any]]:
    """Parse and check a NeRF-convention ``transforms.json`` (its schema is
    ``clip2nerf.data.schema.Transforms``).

    Image paths are relative to ``obj_dir`` and must stay inside it; ``aabb`` (when present)
    must be a finite box with min < max, ``depth_scale`` a finite positive number, intrinsics
    as ``Intrinsics.from_transforms`` says. The returned dict has ``aabb`` as tuples.
    """
    from clip2nerf.data.schema import Transforms
    from clip2nerf.utils.images import image_size
    from clip2nerf.utils.io import resolve_inside
    from clip2nerf.utils.validate import parse

    where = obj_dir / transforms_name
    raw = read_json(where, error=DatasetError, owner=f"object {object_id}: ")
    try:
        t = parse(Transforms, raw, "")
        frames = []
        for i, fr in enumerate(t.frames):
            rel = fr.file_path
            if not Path(rel).suffix:
                rel = rel + ".png"  # Blender-style paths omit the extension
            resolve_inside(obj_dir, rel, f"object {object_id}: {where} frame {i} file_path",
                           DatasetError)
            depth = fr.depth_file_path
            if depth:
                resolve_inside(obj_dir, depth, f"object {object_id}: {where} frame {i} "
                               "depth_file_path", DatasetError)
            frames.append(Frame(i, obj_dir / rel, obj_dir / depth if depth else None,
                                np.asarray(fr.transform_matrix, dtype=np.float32)))
        image_size_ = None
        if t.w is None or t.h is None:
            image_size_ = image_size(frames[0].image_path, "view", DatasetError,
                                     owner=f"object {object_id}: ")
        intr = Intrinsics.from_transforms(t, image_size_)
        tf = dict(raw)
        if t.aabb is not None:
            tf["aabb"] = t.aabb
        if t.depth_scale is not None:
            tf["depth_scale"] = t.depth_scale
    except ValueError as exc:
        raise DatasetError(f"object {object_id}: bad {where} ({exc})") from None
    return intr, frames, tf


def _check_info(info: Any, path: Path) -> dict[str, Any]:
    """``dataset.json`` checked against ``clip2nerf.data.schema.DatasetInfo``; a version
    newer than ours is refused."""
    from clip2nerf.data.schema import DatasetInfo
    from clip2nerf.utils.validate import parse

    checked = parse(DatasetInfo, info, "", DatasetError, where=str(path))
    if checked.get("version", 0) > DATASET_VERSION:
        raise DatasetError(f"{path}: dataset version {checked['version']} is newer than this "
                           f"clip2nerf understands ({DATASET_VERSION}); upgrade clip2nerf")
    return info


def _check_meta(meta: Any, path: Path, object_id: str) -> dict[str, Any]:
    """``meta.json`` checked against ``clip2nerf.data.schema.ObjectMeta``."""
    from clip2nerf.data.schema import ObjectMeta
    from clip2nerf.utils.validate import parse

    parse(ObjectMeta, meta, "", DatasetError, where=f"object {object_id}: {path}")
    return meta


def check_object_ids(ids: list[str], source: Path) -> list[str]:
    """Ids read from a split file must be plain folder names (no ``/``, ``..``): an id is a
    path inside the dataset, and the dataset must not lead outside itself."""
    for oid in ids:
        if "/" in oid or "\\" in oid or oid in (".", "..") or "\x00" in oid or len(oid) > 255:
            raise DatasetError(f"{source}: object id {oid!r:.80} is not a plain folder name; ids "
                               "name folders inside the dataset")
    return ids


def read_id_list(path: Path, what: str, error: type[Exception] = UserError) -> list[str]:
    """Object ids, one per line, of a split/ids file; a binary or unreadable file is refused."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{what} {path}: is a folder, expected a text file of ids") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path}: not a UTF-8 text file of ids, one per line") from None
    except OSError as exc:
        raise error(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    if "\x00" in text:
        raise error(f"{what} {path}: binary data, expected ids one per line")
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


class Dataset:
    """A dataset folder in the clip2nerf format (see module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        info_path = self.root / DATASET_FILE
        if not info_path.exists():
            raise DatasetError(f"{self.root} is not a clip2nerf dataset (no dataset.json); "
                               "make one with `clip2nerf synth` or point at a ShapeNetRender folder")
        self.info: dict[str, Any] = _check_info(read_json(info_path, error=DatasetError),
                                                     info_path)
        self.classes: list[str] = list(self.info.get("classes", []))

    @property
    def name(self) -> str:
        return str(self.info.get("name", self.root.name))

    def object_ids(self, split: str | None = None) -> list[str]:
        """All object ids (sorted), or those listed in ``splits/<split>.txt``."""
        if split is None or split == "all":
            objects = self.root / "objects"
            if not objects.is_dir():
                raise DatasetError(f"{self.root}: no objects/ folder ({objects} is "
                                   f"{'a file' if objects.exists() else 'missing'})")
            return sorted(p.name for p in objects.iterdir() if p.is_dir() and not p.name.startswith("."))
        if split not in SPLITS:
            raise UserError(f"--split {split!r}: expected one of {', '.join(SPLITS)} or all")
        path = self.root / "splits" / f"{split}.txt"
        if not path.exists():
            raise DatasetError(f"{self.root}: split file {path} is missing")
        return check_object_ids(read_id_list(path, "split file", DatasetError), path)

    def split_ids(self, split: str | None) -> list[str]:
        """``object_ids(split)``, refusing a split without objects (a stage with nothing to do
        is a mistake in its arguments, not an empty result)."""
        ids = self.object_ids(split)
        if not ids:
            raise UserError(f"{self.root}: split {split!r} holds no objects")
        return ids

    def object_dir(self, object_id: str) -> Path:
        """``objects/<object_id>``, which must stay inside the dataset's objects/ folder."""
        from clip2nerf.utils.io import resolve_inside

        objects = self.root / "objects"
        if not isinstance(object_id, str) or not object_id or "/" in object_id \
                or "\\" in object_id or object_id in (".", ".."):
            raise DatasetError(f"object id {object_id!r}: not a plain folder name inside {objects}")
        resolve_inside(objects, object_id, f"object {object_id}", DatasetError)
        return objects / object_id

    def get(self, object_id: str) -> ObjectRecord:
        obj_dir = self.object_dir(object_id)
        if not obj_dir.is_dir():
            raise DatasetError(f"object {object_id}: no folder {self.root / 'objects' / object_id}")
        meta = _check_meta(read_json(obj_dir / "meta.json", error=DatasetError,
                                     owner=f"object {object_id}: "), obj_dir / "meta.json",
                           object_id)
        intr, frames, tf = read_transforms(obj_dir, object_id)
        aabb = tf.get("aabb", DEFAULT_AABB)
        return ObjectRecord(
            object_id=object_id,
            class_name=str(meta.get("class", "unknown")),
            root=obj_dir,
            intrinsics=intr,
            frames=frames,
            caption=meta.get("caption"),
            meta=meta,
            aabb=(tuple(aabb[0]), tuple(aabb[1])),  # type: ignore[arg-type]
            depth_scale=tf.get("depth_scale"),
        )

    def iter_objects(self, split: str | None = None, ids: Sequence[str] | None = None,
                     skip_broken: bool = False) -> Iterator[ObjectRecord]:
        """Yield objects of a split (or the given ids); broken ones raise, or warn and skip."""
        for oid in (ids if ids is not None else self.object_ids(split)):
            try:
                yield self.get(oid)
            except DatasetError as exc:
                if not skip_broken:
                    raise
                warnings.warn(f"skipping broken object: {exc}", stacklevel=2)

    def __len__(self) -> int:
        return len(self.object_ids())
