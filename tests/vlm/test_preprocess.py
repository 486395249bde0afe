import numpy as np
import pytest
from PIL import Image

from clip2nerf.errors import UserError
from clip2nerf.vlm.preprocess import (
    as_image_list,
    composite_on_white,
    images_to_batch,
    resize_square,
    to_rgb_array,
)


def test_composite_on_white_by_hand():
    rgba = np.array([[[200, 0, 0, 255], [200, 0, 0, 0], [100, 50, 0, 128]]], np.uint8)
    out = composite_on_white(rgba)
    a = 128 / 255
    expected = [[200, 0, 0], [255, 255, 255],
                [round(100 * a + 255 * (1 - a)), round(50 * a + 255 * (1 - a)), round(255 * (1 - a))]]
    assert out.dtype == np.uint8
    assert out.tolist() == [expected]


def test_all_image_kinds_agree(tmp_path):
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(rgba).save(path)
    want = composite_on_white(rgba)
    for img in (rgba, Image.fromarray(rgba), path, str(path)):
        np.testing.assert_array_equal(to_rgb_array(img), want)
    grey = rng.integers(0, 256, (5, 6), dtype=np.uint8)
    assert to_rgb_array(grey).shape == (5, 6, 3)
    np.testing.assert_array_equal(to_rgb_array(rgba[..., :3]), rgba[..., :3])


def test_bad_images_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="dtype"):
        to_rgb_array(np.zeros((4, 4, 3), np.int32))
    with pytest.raises(UserError, match="shape"):
        to_rgb_array(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        to_rgb_array(np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(UserError, match="not found"):
        to_rgb_array(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(UserError, match="junk.png"):
        to_rgb_array(junk)
    with pytest.raises(UserError, match="unsupported"):
        to_rgb_array(42)


def test_resize_square_is_centre_crop():
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 20:60] = 255  # the centre square
    out = resize_square(img, 20)
    assert out.shape == (20, 20, 3)
    assert out[:, 1:-1].min() == 255  # bicubic ringing may touch the border columns only


def test_batch_shape_and_normalisation():
    imgs = np.full((3, 16, 16, 4), 255, np.uint8)
    imgs[..., 3] = 0  # fully transparent -> white
    x = images_to_batch(as_image_list(imgs), 8, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert x.shape == (3, 3, 8, 8) and x.dtype == np.float32
    np.testing.assert_allclose(x, 1.0)
