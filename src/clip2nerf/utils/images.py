"""Image helpers shared by every stage: the one guarded image reader, compositing, contact sheets.

Every image file clip2nerf reads (dataset views and depth maps, query images, cached thumbnails)
goes through ``load_image``: a pixel cap checked on the header before decoding (decompression
bombs), a full decode (a header over too little data is refused, not half-read), and one mode
normalisation per use. Pillow and numpy only (no torch, no click): the HTTP service reads
uploads with it too.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from clip2nerf.errors import UserError
from clip2nerf.utils.bounds import MAX_IMAGE_PIXELS

Color = tuple[int, int, int]
ImageLike = np.ndarray | Image.Image


ImageMode = Literal["rgba", "rgb", "auto", "depth16"]
"""``rgba``: (H, W, 4) uint8 (8-bit files only); ``rgb``: (H, W, 3) uint8; ``auto``: (H, W, 4)
when the file has transparency, else (H, W, 3); ``depth16``: (H, W) uint16, 16-bit greyscale
files only (an 8-bit depth map would be read 256x too coarse)."""

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def _refuse(error: type[Exception], what: str, why: str) -> Exception:
    return error(f"{what}: {why}")


def _label(path: Path, what: str | None, owner: str) -> str:
    return f"{owner}{what or 'image'} {path}"


def image_size(path: str | os.PathLike[str], what: str | None = None,
               error: type[Exception] = UserError, max_pixels: int = MAX_IMAGE_PIXELS,
               owner: str = "") -> tuple[int, int]:
    """(width, height) from the file's header, with the same checks as ``load_image``."""
    return _open(path, what, error, max_pixels, None, owner)  # type: ignore[return-value]


def load_image(path: str | os.PathLike[str] | bytes, mode: ImageMode = "auto",
               what: str | None = None, error: type[Exception] = UserError,
               max_pixels: int = MAX_IMAGE_PIXELS, owner: str = "") -> np.ndarray:
    """Read an image file (or the bytes of one, e.g. an HTTP upload) as a uint8 array (uint16
    for ``depth16``), see ``ImageMode``.

    Raises ``error`` (a ``UserError`` subclass; the message reads ``<owner><what> <path>: why``,
    e.g. ``object car_0001: view .../03.png: ...``, or ``<owner>missing file <path>``) for a
    missing file, a folder, a file that is not an image or is truncated, an image of zero size
    or over ``max_pixels`` pixels, and a bit depth the mode does not accept.
    """
    return _open(path, what, error, max_pixels, mode, owner)  # type: ignore[return-value]


def _open(path: str | os.PathLike[str] | bytes, what: str | None, error: type[Exception],
          max_pixels: int, mode: ImageMode | None, owner: str = ""
          ) -> np.ndarray | tuple[int, int]:
    import io

    from PIL import UnidentifiedImageError

    source: Path | io.BytesIO
    if isinstance(path, (bytes, bytearray)):
        source = io.BytesIO(bytes(path))
        path = Path("<upload>")
    else:
        path = Path(path)
        source = path
    label = _label(path, what, owner)
    what = label
    if path.is_dir():
        raise _refuse(error, what, "is a folder, expected an image file")
    with warnings.catch_warnings():
        # Pillow only warns between its own cap and twice it; here any bomb is an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(source) as im:
                w, h = im.size
                if w < 1 or h < 1:
                    raise _refuse(error, what, f"empty image ({w}x{h})")
                if w * h > max_pixels:
                    raise _refuse(error, what, f"{w}x{h} pixels is over the limit of "
                                  f"{max_pixels} (a decompression bomb or a far too large image)")
                if mode is None:
                    return (w, h)
                if im.format == "PNG":
                    _load_png(im, source, path, w, h, error, owner)
                else:
                    im.load()
                return _normalise(im, mode, error, what)
        except FileNotFoundError:
            raise error(f"{owner}missing file {path}") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _refuse(error, what, "too many pixels (a decompression bomb?); the limit is "
                          f"{max_pixels}") from None
        except UnidentifiedImageError:
            raise error(f"{owner}corrupt image {path} (not an image file Pillow can read)"
                        ) from None
        except UserError:
            raise
        except MemoryError:
            raise _refuse(error, what, "too large to decode in memory") from None
        except Exception as exc:  # noqa: BLE001 - any decoder failure on user bytes is the file's
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise error(f"{owner}corrupt image {path} (unreadable or truncated: {msg[:120]})"
                        ) from None


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _load_png(im: Image.Image, source, path: Path, w: int, h: int, error: type[Exception],
              owner: str) -> None:
    """Decode a PNG once; inflate it a second time (``_check_png_complete``) only when its last
    row could be rows Pillow never wrote.

    The decode goes into a buffer pre-filled with a sentinel colour: a stream that ends before
    its last row leaves that row at the sentinel, so a last row that differs from it proves
    the pixel data complete. A last row that matches (rare) or a mode Pillow cannot pre-fill
    gets the full check. The file is read from disk once (its bytes serve both).
    """
    import io

    sentinel = None
    try:
        sentinel = Image.new(im.mode, (w, 1), _SENTINEL.get(im.mode, 0x5A))
        im.im = Image.core.fill(im.mode, (w, h), _SENTINEL.get(im.mode, 0x5A))
    except (ValueError, TypeError, AttributeError):
        sentinel = None
    im.load()
    # Adam7: a stream cut after pass 6 leaves only odd rows unwritten, so the last row proves
    # nothing; interlaced files always get the full check.
    if (sentinel is not None and not im.info.get("interlace")
            and im.crop((0, h - 1, w, h)).tobytes() != sentinel.tobytes()):
        return
    data = source.getvalue() if isinstance(source, io.BytesIO) else path.read_bytes()
    _check_png_complete(data, path, w, h, error, owner)


# Unlikely pixel values per mode for the pre-fill above (a match costs only a second inflate).
_SENTINEL: dict[str, object] = {"RGBA": (90, 13, 201, 7), "RGB": (90, 13, 201), "LA": (90, 7),
                                "L": 0x5A, "P": 0xA5, "1": 1, "I;16": 0x5A5A, "I": 0x5A5A5A}


# Adam7's seven passes: first column and row, column and row steps.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))


def _filtered_size(width: int, height: int, bits_per_pixel: int) -> int:
    """Bytes of a (sub-)image's filtered scanlines: one filter byte per row."""
    return 0 if width == 0 or height == 0 else height * (-(-width * bits_per_pixel // 8) + 1)


def _check_png_complete(data: bytes, path: Path, w: int, h: int, error: type[Exception],
                        owner: str) -> None:
    """Refuse a PNG whose pixel data is shorter than its header says (Pillow fills the missing
    rows with zeros without a word when the stream ends cleanly before IEND)."""
    import struct
    import zlib

    pos, total, inflate = 8, 0, zlib.decompressobj()
    expected = None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR" and len(body) >= 13:
            bit_depth, color, interlace = body[8], body[9], body[12]
            if color not in _PNG_CHANNELS:
                return  # Pillow's own checks only
            bits = bit_depth * _PNG_CHANNELS[color]
            expected = sum(_filtered_size(-(-(w - x0) // dx) if w > x0 else 0,
                                          -(-(h - y0) // dy) if h > y0 else 0, bits)
                           for x0, y0, dx, dy in (_ADAM7 if interlace else ((0, 0, 1, 1),)))
        elif kind == b"IDAT":
            chunk = body
            while chunk and total < (expected or 0) + 1:
                total += len(inflate.decompress(chunk, 1 << 22))
                chunk = inflate.unconsumed_tail
        elif kind == b"IEND":
            break
        pos += 12 + length
    if expected is not None and total < expected:
        raise error(f"{owner}corrupt image {path} (truncated: {total} of {expected} bytes of "
                    "pixel data)")


def _normalise(im: Image.Image, mode: ImageMode, error: type[Exception], what: str) -> np.ndarray:
    wide = im.mode in _SIXTEEN_BIT or im.mode in ("I", "F")
    if mode == "depth16":
        if im.mode in _SIXTEEN_BIT:
            return np.asarray(im, dtype=np.uint16)
        if im.mode == "I":
            arr = np.asarray(im, dtype=np.int64)
            if arr.min() < 0 or arr.max() > 65535:
                raise _refuse(error, what, "depth values outside the 16-bit range")
            return arr.astype(np.uint16)
        raise _refuse(error, what, f"is not a 16-bit image (mode {im.mode}); depth maps must be "
                      "16-bit greyscale PNGs (an 8-bit map is far too coarse)")
    if wide and mode == "rgba":
        raise _refuse(error, what, f"is not an 8-bit image (mode {im.mode})")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        im.mode == "P" and "transparency" in im.info)
    if mode == "rgba" or (mode == "auto" and has_alpha):
        im = im.convert("RGBA")
    else:
        im = im.convert("RGB")
    return np.asarray(im)


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
