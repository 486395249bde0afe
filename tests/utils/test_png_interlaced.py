"""Interlaced (Adam7) PNGs: a stream cut after pass 6 leaves every odd row unwritten, and
Pillow decodes it without a word; load_image must refuse it and accept the complete file."""

import struct
import zlib

import numpy as np
import pytest

from clip2nerf.errors import UserError
from clip2nerf.utils.images import load_image

PASSES = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def adam7_png(w: int, h: int, n_passes: int) -> bytes:
    """An 8-bit RGB Adam7 PNG holding only its first ``n_passes`` passes."""
    rng = np.random.default_rng(0)
    raw = b""
    for x0, y0, dx, dy in PASSES[:n_passes]:
        pw, ph = len(range(x0, w, dx)), len(range(y0, h, dy))
        if pw and ph:
            for _ in range(ph):
                raw += b"\0" + rng.integers(0, 255, pw * 3, dtype=np.uint8).tobytes()
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw))
            + _chunk(b"IEND", b""))


@pytest.mark.parametrize("size", [(4, 5), (9, 7), (16, 16)])
def test_interlaced_png_complete_loads_and_cut_after_pass_6_is_refused(size):
    w, h = size
    assert np.asarray(load_image(adam7_png(w, h, 7))).shape == (h, w, 3)
    with pytest.raises(UserError, match="truncated"):
        load_image(adam7_png(w, h, 6))
