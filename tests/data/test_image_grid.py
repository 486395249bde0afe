"""Contact-sheet helpers in ``clip2nerf.utils.images``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from clip2nerf.utils.images import composite_on_background, image_grid


def test_composite_on_background():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)
    rgba[0, 1] = (255, 0, 0, 128)
    out = composite_on_background(rgba, (0, 0, 255))
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[1, 1]) == (0, 0, 255)
    assert tuple(out[0, 1]) == (128, 0, 127)


def test_image_grid_layout():
    tiles = [np.full((10, 12, 4), 255, np.uint8), Image.new("RGB", (12, 10), (0, 0, 0)),
             np.zeros((10, 12, 3), np.float32), None]
    sheet = image_grid(tiles, ncols=3, pad=2, bg=(255, 255, 255))
    assert sheet.size == (2 + 3 * 14, 2 + 2 * 12)
    arr = np.asarray(sheet)
    assert tuple(arr[2 + 5, 2 + 14 + 6]) == (0, 0, 0)  # second tile is black
    labelled = image_grid(tiles[:2], ncols=2, labels=["a", "b"], row_labels=["row"])
    assert labelled.height > 2 + 12 and labelled.width > 2 + 2 * 14
    with pytest.raises(ValueError):
        image_grid(tiles, ncols=2, labels=["only one"])
