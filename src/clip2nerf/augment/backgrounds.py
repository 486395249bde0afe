"""Real photographs used as backgrounds, and their fixed train / held-out split.

The photos are the natural images that scikit-image ships inside its wheel
(``skimage/data/*.png|jpg``, no download): they are read straight from the installed package
with Pillow, so ``skimage`` itself is never imported. Synthetic images it also ships (the
horse silhouette, the colour wheel, microscopy and retina scans) are not used.

The split is fixed in code, not drawn at run time, so that no seed or setting can move a
held-out photo into training: ``TRAIN_PHOTOS`` back the training augmentation,
``HELDOUT_PHOTOS`` only the photo-style query sets of evaluated (val/test) objects.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.utils.io import file_digest

Pool = Literal["train", "heldout"]

TRAIN_PHOTOS: tuple[str, ...] = (
    "astronaut.png", "brick.png", "camera.png", "coffee.png", "grass.png", "moon.png",
    "motorcycle_left.png", "page.png",
)
"""Backgrounds of training augmentation (RGB: astronaut, coffee, motorcycle; the rest grey)."""

HELDOUT_PHOTOS: tuple[str, ...] = (
    "chelsea.png", "clock_motion.png", "coins.png", "gravel.png", "hubble_deep_field.jpg",
    "rocket.jpg",
)
"""Backgrounds of held-out photo-style queries only (RGB: chelsea, hubble, rocket; rest grey).
``motorcycle_right.png`` (the other half of the training stereo pair) is deliberately unused."""

PHOTO_PACKAGE = "scikit-image"


@dataclass(frozen=True)
class Photo:
    """One background photograph: its name, pool, file and content digest."""

    name: str
    pool: Pool
    path: Path
    sha256: str

    def load(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB (grey photos are replicated to three channels)."""
        return _load_rgb(str(self.path))


@lru_cache(maxsize=32)
def _load_rgb(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    arr.setflags(write=False)
    return arr


def photo_dir() -> Path:
    """The folder of scikit-image's bundled data images (UserError when not installed)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("photo augmentation needs the real photos that scikit-image ships; "
                        "install them with: pip install 'clip2nerf[augment]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def package_version() -> str:
    try:
        return importlib.metadata.version(PHOTO_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=4)
def photos(pool: Pool) -> tuple[Photo, ...]:
    """The photos of one pool, checked to exist."""
    names = {"train": TRAIN_PHOTOS, "heldout": HELDOUT_PHOTOS}.get(pool)
    if names is None:
        raise ValueError(f"pool {pool!r}: expected train or heldout")
    folder = photo_dir()
    out = []
    for name in names:
        path = folder / name
        if not path.is_file():
            raise UserError(f"scikit-image {package_version()} at {folder} lacks the photo "
                            f"{name}; install scikit-image>=0.22 (pip install 'clip2nerf[augment]')")
        out.append(Photo(name, pool, path, file_digest(path)))
    return tuple(out)


def pool_for_split(split: str) -> Pool:
    """Training objects get training photos; evaluated (val/test) objects only held-out ones."""
    if split == "train":
        return "train"
    if split in ("val", "test"):
        return "heldout"
    raise UserError(f"--split {split!r}: augment one split at a time (train, val or test), so "
                    "that held-out backgrounds never reach training objects")
