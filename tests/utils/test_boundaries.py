"""The boundary helpers: guarded image loader, paths kept inside their root, bounds, schemas."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bad_images import png_header
from PIL import Image

from clip2nerf.errors import UserError
from clip2nerf.utils import bounds
from clip2nerf.utils.images import image_size, load_image
from clip2nerf.utils.io import remove_stale_temps, resolve_inside
from clip2nerf.utils.validate import parse

# --- images ----------------------------------------------------------------------------------------

def test_modes(tmp_path):
    rgba = np.random.default_rng(0).integers(0, 255, (5, 7, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    Image.fromarray(rgba[..., :3]).save(tmp_path / "b.png")
    assert np.array_equal(load_image(tmp_path / "a.png", "rgba"), rgba)
    assert load_image(tmp_path / "a.png", "auto").shape == (5, 7, 4)
    assert load_image(tmp_path / "b.png", "auto").shape == (5, 7, 3)
    assert load_image(tmp_path / "b.png", "rgba")[..., 3].min() == 255
    assert load_image(tmp_path / "a.png", "rgb").shape == (5, 7, 3)
    assert image_size(tmp_path / "a.png") == (7, 5)


def test_depth_must_be_16_bit(tmp_path):
    depth = np.arange(35, dtype=np.uint16).reshape(5, 7) * 1000
    Image.fromarray(depth).save(tmp_path / "d16.png")
    got = load_image(tmp_path / "d16.png", "depth16")
    assert got.dtype == np.uint16 and np.array_equal(got, depth)
    Image.fromarray((depth // 256).astype(np.uint8)).save(tmp_path / "d8.png")
    with pytest.raises(UserError, match=r"d8\.png.*16-bit"):
        load_image(tmp_path / "d8.png", "depth16")
    with pytest.raises(UserError, match="not an 8-bit image"):
        load_image(tmp_path / "d16.png", "rgba")


@pytest.mark.parametrize("data, message", [
    (png_header(30000, 30000), "decompression bomb"),           # Pillow's own bomb error
    (png_header(12000, 12000, rows=4), "decompression bomb"),  # Pillow only warns: refused
    (png_header(9000, 8000, rows=4), "over the limit"),        # under Pillow's cap, over ours
    (png_header(40, 30, rows=3), "truncated"),                 # ends cleanly, too few rows
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "corrupt image"),
    (b"", "corrupt image"),
], ids=["30000px", "12000px-4-rows", "9000x8000-4-rows", "truncated", "bad-chunk", "empty"])
def test_bad_files_are_one_user_error(tmp_path, data, message):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    with pytest.raises(UserError, match=message) as info:
        load_image(path)
    assert "x.png" in str(info.value) and "\n" not in str(info.value)


def test_bytes_input_for_uploads(tmp_path):
    Image.new("RGB", (6, 4), (10, 20, 30)).save(tmp_path / "x.png")
    arr = load_image((tmp_path / "x.png").read_bytes(), "rgb", "upload")
    assert arr.shape == (4, 6, 3) and tuple(arr[0, 0]) == (10, 20, 30)
    with pytest.raises(UserError, match="truncated"):
        load_image(png_header(40, 30, rows=3), "rgb", "upload")


def test_cap_is_a_parameter_and_errors_take_the_callers_class(tmp_path):
    class MyError(UserError):
        pass

    Image.new("RGB", (20, 20)).save(tmp_path / "x.png")
    with pytest.raises(MyError, match="owner: view .*over the limit of 100"):
        load_image(tmp_path / "x.png", "rgb", "view", MyError, max_pixels=100, owner="owner: ")
    with pytest.raises(MyError, match="owner: missing file"):
        load_image(tmp_path / "nope.png", error=MyError, owner="owner: ")
    with pytest.raises(UserError, match="is a folder"):
        load_image(tmp_path)


# --- paths -----------------------------------------------------------------------------------------

def test_resolve_inside(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (tmp_path / "outside.png").write_bytes(b"x")
    assert resolve_inside(root, "a/../a/v.png", "frame") == (root / "a" / "v.png").resolve()
    for bad in ["../outside.png", "a/../../outside.png", str(tmp_path / "outside.png"), ""]:
        with pytest.raises(UserError, match="frame"):
            resolve_inside(root, bad, "frame")
    os.symlink(tmp_path / "outside.png", root / "link.png")
    with pytest.raises(UserError, match="outside"):
        resolve_inside(root, "link.png", "frame")


def test_remove_stale_temps(tmp_path):
    (tmp_path / ".obj.safetensors.ab12.tmp.safetensors").write_bytes(b"")
    (tmp_path / ".manifest.json.x.tmp.json").write_bytes(b"")
    (tmp_path / "obj.safetensors").write_bytes(b"keep")
    (tmp_path / ".hidden").write_bytes(b"keep")
    assert remove_stale_temps(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "obj.safetensors"]


def test_fit_rerun_removes_a_killed_writes_temp_file(tmp_path):
    from clip2nerf.nerf.fit import FitConfig
    from clip2nerf.nerf.runner import fit_dataset

    out = tmp_path / "nerfs"
    out.mkdir()
    stale = out / ".car_0000.safetensors.k3j2.tmp.safetensors"
    stale.write_bytes(b"")
    assert fit_dataset(tmp_path, out, [], FitConfig()) == {}
    assert not stale.exists() and (out / "manifest.json").is_file()


# --- bounds and schemas ----------------------------------------------------------------------------

@pytest.mark.parametrize("bound, value, ok", [
    (bounds.RESOLUTION, "4096", True), (bounds.RESOLUTION, 4097, False),
    (bounds.RESOLUTION, "1e3", False), (bounds.RESOLUTION, True, False),
    (bounds.LR, "nan", False), (bounds.LR, "inf", False), (bounds.LR, 0.0, False),
    (bounds.LR, "1e-5", True), (bounds.FOV, 180, False), (bounds.FOV, 179.9, True),
    (bounds.SEED, 2**70, False), (bounds.WEIGHT_DECAY, 0, True), (bounds.NPROBE, 0, False),
])
def test_bounds(bound, value, ok):
    if ok:
        assert bound.check(value, "--x") == bound.kind(float(value))
    else:
        with pytest.raises(UserError, match="--x"):
            bound.check(value, "--x")


def test_boundary_modules_import_without_click_or_torch():
    """The HTTP service reuses them; they must stay light."""
    code = ("import sys; import clip2nerf.utils.bounds, clip2nerf.utils.images, "
            "clip2nerf.utils.validate, clip2nerf.utils.io; "
            "bad = {'torch', 'click'} & set(sys.modules); assert not bad, bad")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_schema_types_and_ranges():
    from clip2nerf.nerf.config import NerfConfig

    good = NerfConfig().to_dict()
    assert NerfConfig.from_dict(json.loads(json.dumps(good))) == NerfConfig()
    for patch, message in [({"density_bias": "x"}, "density_bias: must be a number"),
                           ({"density_bias": math.nan}, "must be finite"),
                           ({"hidden": 2.0}, "hidden: must be an integer"),
                           ({"hidden": 10**9}, "hidden: must be <="),
                           ({"rgb_activation": "bogus"}, "must be 'sigmoid', got 'bogus'"),
                           ({"aabb": [[0, 0, 0], [0, 1, 1]]}, "min must be below"),
                           ({"extra": 1}, "unknown keys")]:
        with pytest.raises(ValueError, match=message):
            NerfConfig.from_dict({**good, **patch})
    with pytest.raises(ValueError, match="must be a JSON object"):
        parse(NerfConfig, [1], "cfg")


def test_transforms_schema(tmp_path):
    from clip2nerf.data.dataset import DatasetError, read_transforms

    obj = tmp_path / "o"
    (obj / "views").mkdir(parents=True)
    Image.new("RGBA", (4, 4)).save(obj / "views" / "00.png")
    base = {"w": 4, "h": 4, "fl_x": 5.0, "frames": [{"file_path": "views/00",
                                                       "transform_matrix": np.eye(4).tolist()}]}
    (obj / "transforms.json").write_text(json.dumps(base))
    intr, frames, tf = read_transforms(obj, "o")
    assert intr.fx == intr.fy == 5.0 and frames[0].image_path == obj / "views" / "00.png"
    for patch, message in [({"fl_x": 0}, "fl_x: must be > 0"), ({"w": 0}, "w: must be >= 1"),
                           ({"depth_scale": "m"}, "depth_scale"), ({"aabb": 3}, "aabb"),
                           ({"frames": [{"file_path": "../../x.png",
                                         "transform_matrix": np.eye(4).tolist()}]}, "outside")]:
        (obj / "transforms.json").write_text(json.dumps({**base, **patch}))
        with pytest.raises(DatasetError, match=message):
            read_transforms(obj, "o")


def test_template_is_plain_replacement():
    from clip2nerf.apps.classify import check_template, fill_template

    assert fill_template("a {} model", "car") == "a car model"
    assert fill_template("{x} {}", "car") == "{x} car"
    assert fill_template("{}{0.__class__}", "car") == "car{0.__class__}"
    for bad in ["{}{}", "no slot", "{0}"]:
        with pytest.raises(UserError, match="exactly once"):
            check_template(bad)
