"""load_image inflates a complete PNG once; the second inflate runs only when the last row
could be rows Pillow never wrote (and still refuses truncated pixel data)."""

from __future__ import annotations

import numpy as np
import pytest
from bad_images import png_header
from PIL import Image

from clip2nerf.errors import UserError
from clip2nerf.utils import images


@pytest.fixture
def full_checks(monkeypatch):
    calls = []
    real = images._check_png_complete

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(images, "_check_png_complete", counting)
    return calls


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "L", "LA", "P"])
def test_complete_png_decoded_once_and_exact(tmp_path, full_checks, mode):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    im = Image.fromarray(arr, "RGBA").convert(mode)
    path = tmp_path / "a.png"
    im.save(path)
    got = images.load_image(path, "rgba")
    assert np.array_equal(got, np.asarray(Image.open(path).convert("RGBA")))
    assert full_checks == []


def test_last_row_equal_to_sentinel_gets_full_check(tmp_path, full_checks):
    arr = np.zeros((6, 5, 4), np.uint8)
    arr[-1] = images._SENTINEL["RGBA"]
    path = tmp_path / "s.png"
    Image.fromarray(arr, "RGBA").save(path)
    assert np.array_equal(images.load_image(path, "rgba"), arr)  # complete: accepted
    assert full_checks == [path]


def test_truncated_png_still_refused(tmp_path, full_checks):
    path = tmp_path / "t.png"
    path.write_bytes(png_header(40, 30, rows=3))
    with pytest.raises(UserError, match="truncated"):
        images.load_image(path)
    assert full_checks == [path]
