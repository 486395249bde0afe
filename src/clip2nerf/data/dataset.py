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

import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.errors import UserError

DATASET_FORMAT = "clip2nerf-dataset"
DATASET_VERSION = 1
SPLITS = ("train", "val", "test")
DEFAULT_AABB = ((-0.7, -0.7, -0.7), (0.7, 0.7, 0.7))
"""nf2vec's object box; synth normalises objects to fit inside it."""


class DatasetError(UserError):
    """A dataset file is missing or corrupt; the message names the object and the file."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels; pixel centres sit at integer + 0.5."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_transforms(cls, tf: dict[str, Any], image_size: tuple[int, int] | None = None
                        ) -> Intrinsics:
        """Read ``fl_x/fl_y/cx/cy/w/h`` or, failing that, ``camera_angle_x`` (+ image size)."""
        w = tf.get("w")
        h = tf.get("h")
        if (w is None or h is None) and image_size is not None:
            w, h = image_size
        if w is None or h is None:
            raise KeyError("w/h")
        w, h = int(w), int(h)
        if "fl_x" in tf:
            fx = float(tf["fl_x"])
            fy = float(tf.get("fl_y", fx))
        else:
            fx = 0.5 * w / np.tan(0.5 * float(tf["camera_angle_x"]))
            fy = fx
        cx = float(tf.get("cx", w / 2.0))
        cy = float(tf.get("cy", h / 2.0))
        return cls(w, h, fx, fy, cx, cy)

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same camera at another resolution."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(width, height, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)


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
        raw = _read_image_array(frame.depth_path, self.object_id)
        if raw.ndim != 2 or raw.shape != (self.intrinsics.height, self.intrinsics.width):
            raise DatasetError(f"object {self.object_id}: depth {frame.depth_path} has shape "
                               f"{raw.shape}, expected {(self.intrinsics.height, self.intrinsics.width)}")
        return raw.astype(np.float32) * np.float32(self.depth_scale)

    def load_depths(self, indices: Sequence[int] | None = None) -> np.ndarray:
        idx = range(self.n_views) if indices is None else indices
        return np.stack([self.load_depth(i) for i in idx])


def _read_image_array(path: Path, object_id: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                return np.asarray(im, dtype=np.uint16 if im.mode.startswith("I;16") else np.int32)
            if im.mode not in ("RGBA", "RGB", "L", "LA", "P"):
                im = im.convert("RGBA")
            return np.asarray(im)
    except FileNotFoundError:
        raise DatasetError(f"object {object_id}: missing file {path}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError(f"object {object_id}: corrupt image {path} ({exc})") from None


def _read_rgba(path: Path, object_id: str, intr: Intrinsics) -> np.ndarray:
    from PIL import Image

    arr = _read_image_array(path, object_id)
    if arr.dtype != np.uint8:
        raise DatasetError(f"object {object_id}: view {path} is not an 8-bit image")
    if arr.ndim == 2 or arr.shape[-1] != 4:
        arr = np.asarray(Image.fromarray(arr).convert("RGBA"))
    if arr.shape[:2] != (intr.height, intr.width):
        raise DatasetError(f"object {object_id}: view {path} is {arr.shape[1]}x{arr.shape[0]}, "
                           f"transforms.json says {intr.width}x{intr.height}")
    return arr


def _load_json(path: Path, object_id: str | None = None) -> Any:
    owner = f"object {object_id}: " if object_id else ""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{owner}missing file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{owner}corrupt JSON {path} ({exc})") from None


def read_transforms(obj_dir: Path, object_id: str, transforms_name: str = "transforms.json"
                    ) -> tuple[Intrinsics, list[Frame], dict[str, Any]]:
    """Parse a NeRF-convention ``transforms.json``; image paths are relative to ``obj_dir``."""
    tf = _load_json(obj_dir / transforms_name, object_id)
    try:
        frames_raw = tf["frames"]
        frames = []
        for i, fr in enumerate(frames_raw):
            img = obj_dir / fr["file_path"]
            if not img.suffix:
                img = img.with_suffix(".png")  # Blender-style paths omit the extension
            depth = fr.get("depth_file_path")
            c2w = np.asarray(fr["transform_matrix"], dtype=np.float32)
            if c2w.shape != (4, 4) or not np.isfinite(c2w).all():
                raise ValueError(f"frame {i}: transform_matrix must be a finite 4x4 matrix")
            frames.append(Frame(i, img, obj_dir / depth if depth else None, c2w))
        if not frames:
            raise ValueError("no frames")
        image_size = None
        if "w" not in tf or "h" not in tf:
            from PIL import Image

            with Image.open(frames[0].image_path) as im:
                image_size = im.size
        intr = Intrinsics.from_transforms(tf, image_size)
    except DatasetError:
        raise
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise DatasetError(f"object {object_id}: bad {obj_dir / transforms_name} ({exc!r})") from None
    return intr, frames, tf


class Dataset:
    """A dataset folder in the clip2nerf format (see module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        info_path = self.root / "dataset.json"
        if not info_path.exists():
            raise DatasetError(f"{self.root} is not a clip2nerf dataset (no dataset.json); "
                               "make one with `clip2nerf synth` or point at a ShapeNetRender folder")
        self.info: dict[str, Any] = _load_json(info_path)
        if self.info.get("format") != DATASET_FORMAT:
            raise DatasetError(f"{info_path}: format is {self.info.get('format')!r}, "
                               f"expected {DATASET_FORMAT!r}")
        if int(self.info.get("version", 0)) > DATASET_VERSION:
            raise DatasetError(f"{info_path}: dataset version {self.info.get('version')} is newer "
                               f"than this clip2nerf understands ({DATASET_VERSION}); upgrade clip2nerf")
        self.classes: list[str] = list(self.info.get("classes", []))

    @property
    def name(self) -> str:
        return str(self.info.get("name", self.root.name))

    def object_ids(self, split: str | None = None) -> list[str]:
        """All object ids (sorted), or those listed in ``splits/<split>.txt``."""
        if split is None or split == "all":
            objects = self.root / "objects"
            return sorted(p.name for p in objects.iterdir() if p.is_dir() and not p.name.startswith("."))
        if split not in SPLITS:
            raise UserError(f"--split {split!r}: expected one of {', '.join(SPLITS)} or all")
        path = self.root / "splits" / f"{split}.txt"
        if not path.exists():
            raise DatasetError(f"{self.root}: split file {path} is missing")
        return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]

    def get(self, object_id: str) -> ObjectRecord:
        obj_dir = self.root / "objects" / object_id
        if not obj_dir.is_dir():
            raise DatasetError(f"object {object_id}: no folder {obj_dir}")
        meta = _load_json(obj_dir / "meta.json", object_id)
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


def open_dataset(path: str | Path) -> Dataset:
    """Open a dataset folder, whichever supported layout it has: the clip2nerf format
    (``dataset.json``) or a ShapeNetRender / nf2vec render tree (``clip2nerf.data.shapenet``)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"--data {path}: no such folder")
    if not (path / "dataset.json").exists():
        from clip2nerf.data.shapenet import ShapeNetRenderDataset, looks_like_shapenet_render

        if looks_like_shapenet_render(path):
            return ShapeNetRenderDataset(path)
    return Dataset(path)
