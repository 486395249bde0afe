"""Photo-style augmentation: a render composited on a real photograph, then degraded.

One augmented image is made from one RGBA view and one background photo by a fixed chain of
operations whose parameters are all drawn from one ``numpy`` generator (so an image is fully
determined by its seed and recorded as a list of operations with their parameters):

1. ``background_crop``  a random square crop of the photo (optionally mirrored), resized to
   the output size;
2. ``scale_place``      the object's alpha bounding box is scaled to a random fraction of the
   canvas and placed at a random position that keeps it wholly inside (off-centre framing);
3. ``object_colour``    brightness, contrast, saturation and a colour tint of the object
   (lighting changes);
4. ``composite``        premultiplied alpha over the background;
5. ``gamma``            a global exposure curve;
6. ``blur``             Gaussian blur (sometimes);
7. ``noise``            Gaussian sensor noise (sometimes);
8. ``jpeg``             JPEG compression at a random quality (sometimes).

The returned mask is the object's alpha footprint on the output canvas (before blur), which
the tests use to prove the object stays visible.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from clip2nerf.augment.writer import hash_seed
from clip2nerf.errors import UserError


@dataclass(frozen=True)
class PhotoAugConfig:
    """Ranges of the random operations (uniform draws unless stated)."""

    object_scale: tuple[float, float] = (0.45, 0.9)
    """Long side of the object's bounding box as a fraction of the canvas side."""
    background_crop: tuple[float, float] = (0.35, 1.0)
    """Side of the square background crop as a fraction of the photo's short side."""
    brightness: tuple[float, float] = (0.65, 1.35)
    contrast: tuple[float, float] = (0.75, 1.25)
    saturation: tuple[float, float] = (0.6, 1.4)
    tint: float = 0.12
    """Per-channel gain of the object's colour drawn from ``1 +- tint`` (colour temperature)."""
    gamma: tuple[float, float] = (0.8, 1.25)
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.3, 1.4)
    """Gaussian sigma in pixels of a 64 px image (scaled with the output size)."""
    noise_p: float = 0.7
    noise_std: tuple[float, float] = (2.0, 10.0)
    """Sensor noise standard deviation in 8-bit levels."""
    jpeg_p: float = 0.7
    jpeg_quality: tuple[int, int] = (25, 90)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def image_seed(seed: int, pool: str, object_id: str, k: int) -> int:
    """The seed of augmented image ``k`` of an object: 63 bits of a hash of all four, so the
    train and held-out pools (and objects, and images) never share a random stream."""
    return hash_seed("clip2nerf-photo", seed, pool, object_id, k)


def _u(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _resize_float(channels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, c) float32 -> (size[1], size[0], c) with bicubic resampling, channel by channel."""
    from PIL import Image

    out = [np.asarray(Image.fromarray(np.ascontiguousarray(channels[..., c]), mode="F")
                      .resize(size, Image.BICUBIC)) for c in range(channels.shape[-1])]
    return np.stack(out, axis=-1)


def compose_photo(rgba: np.ndarray, background: np.ndarray, rng: np.random.Generator,
                  size: int, config: PhotoAugConfig = PhotoAugConfig()
                  ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """One augmented image.

    Args:
        rgba: (H, W, 4) uint8 view with a transparent background.
        background: (h, w, 3) uint8 photo.
        rng: the image's generator (every random choice comes from it, in a fixed order:
            the steps below run in the order of the module docstring).
        size: side of the square output.

    Returns:
        rgb (size, size, 3) uint8, mask (size, size) float32 in [0, 1] (the object's alpha on
        the canvas), and the operations applied with their parameters.
    """
    from PIL import Image

    if size < 8:
        raise UserError(f"--size {size}: must be at least 8 px")
    if not (rgba[..., 3] > 0).any():
        raise UserError("a view has an empty alpha channel: photo augmentation composites the "
                        "object over a photo and needs RGBA views with a transparent background")
    ops: list[dict[str, Any]] = []
    bg = _background_crop(background, rng, size, config, ops)
    small, (ox, oy) = _scale_place(rgba, rng, size, config, ops)
    a = small[..., 3:]
    colour = _object_colour(small, rng, config, ops)
    # 4. composite
    canvas = bg.copy()
    mask = np.zeros((size, size), np.float32)
    nh, nw = a.shape[:2]
    region = canvas[oy:oy + nh, ox:ox + nw]
    canvas[oy:oy + nh, ox:ox + nw] = colour * a + region * (1.0 - a)
    mask[oy:oy + nh, ox:ox + nw] = a[..., 0]
    ops.append({"op": "composite"})
    # 5. exposure
    g = _u(rng, config.gamma)
    canvas = np.clip(canvas, 0.0, 1.0) ** g
    ops.append({"op": "gamma", "gamma": round(g, 4)})
    out = Image.fromarray(np.round(canvas * 255.0).astype(np.uint8))
    return np.asarray(_degrade(out, rng, size, config, ops), np.uint8), mask, ops


def _background_crop(background: np.ndarray, rng: np.random.Generator, size: int,
                     config: PhotoAugConfig, ops: list[dict[str, Any]]) -> np.ndarray:
    """Step 1: a random square crop of the photo, maybe mirrored: (size, size, 3) in [0, 1]."""
    from PIL import Image

    bh, bw = background.shape[:2]
    side = max(8, min(bh, bw, int(round(_u(rng, config.background_crop) * min(bh, bw)))))
    x0 = int(rng.integers(0, bw - side + 1))
    y0 = int(rng.integers(0, bh - side + 1))
    flip = bool(rng.random() < 0.5)
    bg_img = Image.fromarray(background[y0:y0 + side, x0:x0 + side]).resize((size, size),
                                                                             Image.BICUBIC)
    if flip:
        bg_img = bg_img.transpose(Image.FLIP_LEFT_RIGHT)
    ops.append({"op": "background_crop", "box": [x0, y0, side, side], "mirror": flip})
    return np.asarray(bg_img, np.float32) / 255.0


def _scale_place(rgba: np.ndarray, rng: np.random.Generator, size: int,
                 config: PhotoAugConfig, ops: list[dict[str, Any]]
                 ) -> tuple[np.ndarray, tuple[int, int]]:
    """Step 2: the object's alpha bounding box scaled to a random fraction of the canvas.

    Returns the premultiplied (nh, nw, 4) float32 object and its (x, y) offset on the canvas,
    drawn so that it lies wholly inside.
    """
    ys, xs = np.nonzero(rgba[..., 3] > 0)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = rgba[top:bottom, left:right].astype(np.float32) / 255.0
    frac = _u(rng, config.object_scale)
    factor = frac * size / max(crop.shape[0], crop.shape[1])
    nw = max(1, min(size, int(round(crop.shape[1] * factor))))
    nh = max(1, min(size, int(round(crop.shape[0] * factor))))
    premult = np.concatenate([crop[..., :3] * crop[..., 3:], crop[..., 3:]], axis=-1)
    small = np.clip(_resize_float(premult, (nw, nh)), 0.0, 1.0)
    ox = int(rng.integers(0, size - nw + 1))
    oy = int(rng.integers(0, size - nh + 1))
    ops.append({"op": "scale_place", "fraction": round(frac, 4), "size": [nw, nh],
                "offset": [ox, oy]})
    return small, (ox, oy)


def _object_colour(small: np.ndarray, rng: np.random.Generator, config: PhotoAugConfig,
                   ops: list[dict[str, Any]]) -> np.ndarray:
    """Step 3: brightness, contrast, saturation and tint of the premultiplied object;
    returns its straight (unpremultiplied) colour, (nh, nw, 3) in [0, 1]."""
    a = small[..., 3:]
    colour = np.where(a > 1e-4, small[..., :3] / np.maximum(a, 1e-4), 0.0)
    b, c, s = _u(rng, config.brightness), _u(rng, config.contrast), _u(rng, config.saturation)
    gains = 1.0 + rng.uniform(-config.tint, config.tint, size=3)
    weight = a[..., 0]
    mean = float((colour * a).sum() / max(3.0 * weight.sum(), 1e-6))
    colour = (colour - mean) * c + mean
    grey = colour.mean(axis=-1, keepdims=True)
    colour = (grey + (colour - grey) * s) * b * gains
    ops.append({"op": "object_colour", "brightness": round(b, 4), "contrast": round(c, 4),
                "saturation": round(s, 4), "tint": [round(float(g), 4) for g in gains]})
    return np.clip(colour, 0.0, 1.0)


def _degrade(out: Any, rng: np.random.Generator, size: int, config: PhotoAugConfig,
             ops: list[dict[str, Any]]) -> Any:
    """Steps 6-8: camera and compression degradations of the PIL image, each sometimes."""
    from PIL import Image, ImageFilter

    if rng.random() < config.blur_p:
        sigma = _u(rng, config.blur_sigma) * size / 64.0
        out = out.filter(ImageFilter.GaussianBlur(sigma))
        ops.append({"op": "blur", "sigma_px": round(sigma, 4)})
    if rng.random() < config.noise_p:
        std = _u(rng, config.noise_std)
        noisy = np.asarray(out, np.float32) + rng.normal(0.0, std, size=(size, size, 3))
        out = Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
        ops.append({"op": "noise", "std": round(std, 4)})
    if rng.random() < config.jpeg_p:
        q = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
        buf = io.BytesIO()
        out.save(buf, format="JPEG", quality=q)
        buf.seek(0)
        with Image.open(buf) as im:
            out = im.convert("RGB")
        ops.append({"op": "jpeg", "quality": q})
    return out


def augment_photo(data, out, split: str = "train", views_per_object: int = 7, seed: int = 0,
                  size: int | None = None, config: PhotoAugConfig = PhotoAugConfig(),
                  overwrite: bool = False, progress: bool = True, log=print):
    """Photo-style images of every object of ``split`` into the dataset folder ``out``.

    Training objects are composited only on ``TRAIN_PHOTOS``, val/test objects only on
    ``HELDOUT_PHOTOS`` (their query sets), and image seeds are hashed with the pool, so the
    two never share a background or a random stream. ``size`` defaults to the views' width.
    Returns ``out``.
    """
    from clip2nerf.augment.backgrounds import package_version, photos, pool_for_split
    from clip2nerf.augment.writer import AugmentedImage, write_augmented
    from clip2nerf.data.layouts import open_dataset

    if views_per_object < 1:
        raise UserError(f"--views-per-object {views_per_object}: must be at least 1")
    ds = open_dataset(data)
    pool = pool_for_split(split)
    bank = photos(pool)
    ids = ds.split_ids(split)
    side = int(size or ds.get(ids[0]).intrinsics.width)
    if side < 8:
        raise UserError(f"--size {side}: must be at least 8 px")
    settings = {"kind": "photo", "source": ds.name, "split": split, "pool": pool, "seed": seed,
                "views_per_object": views_per_object, "size": side, "ops": config.to_dict(),
                "photos": {"package": f"scikit-image=={package_version()}",
                           "files": {p.name: p.sha256 for p in bank}}}

    def make_images(obj) -> list[AugmentedImage]:
        views: dict[int, np.ndarray] = {}
        images = []
        for k in range(views_per_object):
            s = image_seed(seed, pool, obj.object_id, k)
            rng = np.random.default_rng(s)
            view = int(rng.integers(obj.n_views))
            photo = bank[int(rng.integers(len(bank)))]
            if view not in views:
                views[view] = obj.load_view(view)
            rgb, mask, ops = compose_photo(views[view], photo.load(), rng, side, config)
            images.append(AugmentedImage(rgb, view, {"seed": s, "background": photo.name,
                                                     "pool": pool, "ops": ops}, mask))
        return images

    return write_augmented(ds, out, split, settings, make_images, overwrite=overwrite,
                           progress=progress, log=log)
