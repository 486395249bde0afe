"""Deterministic image preprocessing shared by every VLM backend (Pillow + numpy, no torchvision).

Any image a user hands in — a file path, a PIL image, an (H, W, 3|4) uint8 array — becomes an
RGB PIL image the same way everywhere: RGBA is alpha-composited on white (our renders have
transparent backgrounds, CLIP was trained on photos with opaque ones), greyscale/palette images
are converted to RGB.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from clip2nerf.errors import UserError

if TYPE_CHECKING:
    from PIL import Image

ImageLike = Union[str, os.PathLike, "Image.Image", np.ndarray]
"""A file path, a PIL image, or an (H, W, 3|4) / (H, W) uint8 array."""

BACKGROUND = (255, 255, 255)
"""Background that transparent pixels are composited onto."""


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 RGBA -> (H, W, 3) uint8 RGB over a white background (rounded)."""
    rgb = rgba[..., :3].astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    out = rgb * alpha + np.float32(255.0) * (1.0 - alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _array_to_rgb(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            # Accept floats in [0, 1] (rendered views), reject anything else loudly.
            if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
                raise UserError(f"{what}: float image values must be finite and in [0, 1]")
            arr = np.rint(arr * 255.0).astype(np.uint8)
        else:
            raise UserError(f"{what}: image array has dtype {arr.dtype}, expected uint8")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise UserError(f"{what}: image array has shape {arr.shape}, expected (H, W, 3|4)")
    if arr.shape[-1] == 4:
        arr = composite_on_white(arr)
    return np.ascontiguousarray(arr)


def load_image_file(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as (H, W, 3|4) uint8 through the guarded loader
    (``clip2nerf.utils.images.load_image``); a missing, unreadable or oversized file is a
    UserError."""
    from clip2nerf.utils.images import load_image

    path = Path(path)
    if not path.exists():
        raise UserError(f"image file not found: {path}")
    return load_image(path, "auto", "image")


def to_rgb_array(image: ImageLike, what: str = "image") -> np.ndarray:
    """Any accepted image -> (H, W, 3) uint8 RGB, RGBA composited on white."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        return _array_to_rgb(load_image_file(image), str(image))
    if isinstance(image, Image.Image):
        im = image.convert("RGBA") if "A" in image.getbands() or image.mode == "P" else image
        if im.mode not in ("RGB", "RGBA"):
            im = im.convert("RGB")
        return _array_to_rgb(np.asarray(im), what)
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image, what)
    raise UserError(f"{what}: unsupported image type {type(image).__name__} "
                    "(expected a path, a PIL image or a uint8 array)")


def as_image_list(images: ImageLike | Sequence[ImageLike] | np.ndarray) -> list[ImageLike]:
    """Normalise the ``images`` argument: one image, a list, or an (n, H, W, C) array."""
    from PIL import Image

    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return list(images)
        return [images]
    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    return list(images)


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8: bicubic resize of the short side, centre crop.

    The same geometry as CLIP's own preprocessing (resize shortest edge, centre crop).
    """
    from PIL import Image

    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    im = Image.fromarray(rgb).resize((nw, nh), resample=Image.Resampling.BICUBIC)
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.asarray(im)[top:top + size, left:left + size]


def images_to_batch(images: Sequence[ImageLike], size: int, mean: Sequence[float],
                    std: Sequence[float]) -> np.ndarray:
    """Images -> (n, 3, size, size) float32, scaled to [0, 1] then normalised per channel."""
    out = np.empty((len(images), 3, size, size), dtype=np.float32)
    m = np.asarray(mean, dtype=np.float32)[:, None, None]
    s = np.asarray(std, dtype=np.float32)[:, None, None]
    for i, img in enumerate(images):
        rgb = resize_square(to_rgb_array(img, f"image {i}"), size)
        out[i] = (rgb.transpose(2, 0, 1).astype(np.float32) / 255.0 - m) / s
    return out
