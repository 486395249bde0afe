"""Image helpers shared by every stage that shows pictures: compositing and contact sheets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Color = tuple[int, int, int]
ImageLike = np.ndarray | Image.Image


def to_rgba_array(img: ImageLike) -> np.ndarray:
    """(H, W, 4) uint8 from a PIL image or an array: (H, W) grey, (H, W, 3) RGB, (H, W, 4) RGBA;
    float arrays are taken as [0, 1]."""
    if isinstance(img, Image.Image):
        return np.asarray(img.convert("RGBA"))
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"image array must be uint8 or float, got {arr.dtype}")
        arr = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, -1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"image array must be (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    if arr.shape[-1] == 3:
        arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 255, np.uint8)], -1)
    return arr


def composite_on_background(rgba: ImageLike, bg: Color = (255, 255, 255)) -> np.ndarray:
    """Alpha-composite an RGBA image over a flat colour: (H, W, 3) uint8."""
    arr = to_rgba_array(rgba).astype(np.float32)
    a = arr[..., 3:4] / 255.0
    out = arr[..., :3] * a + np.asarray(bg, np.float32) * (1.0 - a)
    return np.round(out).astype(np.uint8)


def image_grid(images: Sequence[ImageLike], ncols: int, labels: Sequence[str] | None = None,
               bg: Color = (255, 255, 255), pad: int = 2, row_labels: Sequence[str] | None = None,
               text_color: Color = (0, 0, 0)) -> Image.Image:
    """Tile images (RGBA composited on ``bg``) into a grid, ``ncols`` per row, row-major.

    Tiles may differ in size; each cell is as large as the largest tile. ``labels`` (one per
    image, may be empty strings) are written under the tiles, ``row_labels`` left of each row.
    A ``None`` entry in ``images`` leaves its cell empty.
    """
    if ncols < 1:
        raise ValueError("ncols must be >= 1")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    tiles = [None if im is None else composite_on_background(im, bg) for im in images]
    sizes = [t.shape[:2] for t in tiles if t is not None] or [(1, 1)]
    th, tw = max(s[0] for s in sizes), max(s[1] for s in sizes)
    nrows = max(1, -(-len(tiles) // ncols))
    font = ImageFont.load_default()
    label_h = 12 if labels is not None and any(labels) else 0
    left = 0
    if row_labels:
        left = max(int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(r, font=font))
                   for r in row_labels) + 2 * pad
    cell_w, cell_h = tw + pad, th + label_h + pad
    sheet = Image.new("RGB", (left + pad + ncols * cell_w, pad + nrows * cell_h), bg)
    draw = ImageDraw.Draw(sheet)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        x, y = left + pad + c * cell_w, pad + r * cell_h
        if tile is not None:
            sheet.paste(Image.fromarray(tile), (x + (tw - tile.shape[1]) // 2, y + (th - tile.shape[0]) // 2))
        if label_h and labels is not None and labels[i]:
            draw.text((x, y + th + 1), labels[i], fill=text_color, font=font)
    if row_labels:
        for r, text in enumerate(row_labels[:nrows]):
            draw.text((pad, pad + r * cell_h + th // 2 - 5), text, fill=text_color, font=font)
    return sheet
