"""Fitting at ``FitConfig.image_size``: larger views are box-downsampled by an integer factor,
the intrinsics scaled with them, and the fit (manifest, NeRF file) records the size."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from clip2nerf.camera import Intrinsics, project_points
from clip2nerf.cli.main import main
from clip2nerf.data.layouts import open_dataset
from clip2nerf.data.shapenet import ShapeNetRenderDataset
from clip2nerf.data.synth import SynthConfig, generate_dataset
from clip2nerf.nerf.fit import (
    FitConfig,
    ObjectViews,
    downsample_views,
    fit_downsample_factor,
    fit_object,
    load_object_views,
)
from clip2nerf.nerf.io import load_nerf


@pytest.mark.parametrize("w, h, size, k", [
    (128, 128, 64, 2), (64, 64, 64, 1), (32, 32, 64, 1), (96, 96, 64, 1), (192, 192, 64, 3),
    (256, 256, 64, 4), (256, 128, 64, 2),
    (224, 224, 64, 2),  # ShapeNetRender: 224/64 is no integer; 112 px is the nearest above 64
    (224, 224, 56, 4), (224, 224, 224, 1), (48, 48, 20, 2),
])
def test_factor_is_the_largest_integer_keeping_the_size(w, h, size, k):
    assert fit_downsample_factor(w, h, size) == k
    assert min(w, h) // k >= size or k == 1


def test_downsample_is_a_premultiplied_box_mean_with_scaled_intrinsics_and_farthest_depth():
    g = torch.Generator().manual_seed(0)
    v, h, w, k = 2, 8, 12, 2
    rgb = torch.rand(v, h, w, 3, generator=g)
    alpha = (torch.rand(v, h, w, generator=g) > 0.3).float()
    bg = 1.0
    images = rgb * alpha[..., None] + bg * (1 - alpha[..., None])  # as load_object_views
    depths = torch.rand(v, h, w, generator=g) * alpha + 1.0 * alpha  # 0 = background
    intr = Intrinsics(w, h, 15.0, 14.0, 6.0, 4.0)
    views = ObjectViews(intr, images, alpha, torch.eye(4).repeat(v, 1, 1), depths)
    small = downsample_views(views, k)
    assert small.intrinsics == intr.scaled(w // k, h // k) == Intrinsics(6, 4, 7.5, 7.0, 3.0, 2.0)
    blocks = lambda x: x.reshape(v, h // k, k, w // k, k, *x.shape[3:])  # noqa: E731
    a = blocks(alpha).mean((2, 4))
    premult = blocks(rgb * alpha[..., None]).sum((2, 4)) / k**2
    assert torch.allclose(small.alphas, a)
    assert torch.allclose(small.images, premult + bg * (1 - a[..., None]), atol=1e-6)
    assert torch.equal(small.depths, blocks(depths).amax((2, 4)))
    assert (small.depths[a == 0] == 0).all()  # no sample hit: still background
    # A coarse pixel centre is its block's centre: the same world point projects to u / k.
    pose = torch.from_numpy(np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]],
                                     np.float32))
    pts = torch.tensor([[0.3, -0.2, 0.1], [-0.5, 0.4, -0.2]])
    col, row, z = project_points(pts, intr, pose)
    col2, row2, z2 = project_points(pts, small.intrinsics, pose)
    assert torch.allclose(col2, col / k) and torch.allclose(row2, row / k)
    assert downsample_views(views, 1) is views
    with pytest.raises(ValueError, match="cannot be box-downsampled by 5"):
        downsample_views(views, 5)


@pytest.fixture(scope="module")
def synth_pair(tmp_path_factory):
    """One chair rendered as the presets do (128 px, one ray per pixel) and as before the
    switch (64 px, 2x2 supersampling)."""
    root = tmp_path_factory.mktemp("synth")
    out = {}
    for res, ss in ((128, 1), (64, 2)):
        cfg = SynthConfig(classes=("chair",), per_class=1, views=8, res=res, supersample=ss,
                          seed=5)
        out[res] = generate_dataset(root / f"r{res}", cfg, progress=False).out
    return out


def test_fit_views_of_128_px_synth_are_the_64_px_supersampled_views(synth_pair):
    big = open_dataset(synth_pair[128]).get("chair_0000")
    old = open_dataset(synth_pair[64]).get("chair_0000")
    assert big.intrinsics.width == 128 and old.intrinsics.width == 64
    new = load_object_views(big, 1.0, True, 64)
    ref = load_object_views(old, 1.0, True)
    assert new.intrinsics == ref.intrinsics  # focal and centre halved: 64 px's exactly
    # The same sub-pixel rays: only the 8-bit rounding of each file differs.
    assert (new.images - ref.images).abs().max() <= 1.0 / 255
    assert (new.alphas - ref.alphas).abs().max() <= 1.0 / 255
    assert torch.equal(new.poses, ref.poses)
    assert new.depths.shape == (8, 64, 64)
    # Opaque pixels: the block's farthest surface is at least as far as any of its samples.
    opaque = new.alphas >= 0.99
    full = load_object_views(big, 1.0, True, None).depths
    assert (new.depths[opaque] >= torch.nn.functional.avg_pool2d(full[:, None], 2)[:, 0][opaque]
            - 1e-6).all()
    assert load_object_views(big, 1.0, True, 128).intrinsics.width == 128  # at the size: as is


def test_fit_object_fits_at_image_size_and_records_it(synth_pair):
    rec = open_dataset(synth_pair[128]).get("chair_0000")
    res = fit_object(rec, fit_config=FitConfig(steps=4, rays_per_step=64, holdout_views=2))
    assert res.stats["fit_resolution"] == [64, 64]
    assert math.isfinite(res.stats["psnr"])
    full = fit_object(rec, fit_config=FitConfig(steps=4, rays_per_step=64, holdout_views=2,
                                                image_size=128))
    assert full.stats["fit_resolution"] == [128, 128]


def test_fit_cli_image_size_in_manifest_and_nerf(toy_dataset, tmp_path, capsys):
    out = tmp_path / "nerfs"
    code = main(["fit", "--data", str(toy_dataset), "--out", str(out), "--objects", "obj000",
                 "--steps", "4", "--rays", "64", "--holdout", "2", "--image-size", "16",
                 "--quiet"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "32x32 px views fitted at 16x16 (2x2 box-downsampled)" in cap.out
    man = json.loads((out / "manifest.json").read_text())
    assert man["fit_config"]["image_size"] == 16
    assert man["objects"]["obj000"]["fit_resolution"] == [16, 16]
    assert load_nerf(out / "obj000.safetensors").meta["fit_resolution"] == [16, 16]
    # The default (64) leaves these 32 px views as they are.
    code = main(["fit", "--data", str(toy_dataset), "--out", str(tmp_path / "n2"), "--objects",
                 "obj000", "--steps", "4", "--rays", "64", "--holdout", "2", "--quiet"])
    assert code == 0 and "fitted at the views' 32x32 px" in capsys.readouterr().out
    assert json.loads((tmp_path / "n2" / "manifest.json").read_text())[
        "objects"]["obj000"]["fit_resolution"] == [32, 32]


def _shapenet_tree(tmp_path, res):
    """A ShapeNetRender-style tree (nf2vec layout: camera_angle_x only, extension-less
    ./train/N paths, no depth) of one toy object rendered at ``res`` px."""
    from nerf_toy_scene import write_dataset

    toy = write_dataset(tmp_path / "toy", n_objects=1, n_views=12, res=res)
    src = toy / "objects" / "obj000"
    tf = json.loads((src / "transforms.json").read_text())
    obj = tmp_path / "shapenet" / "03001627" / "abc123"
    (obj / "train").mkdir(parents=True)
    frames = []
    for i, fr in enumerate(tf["frames"]):
        shutil.copy(src / fr["file_path"], obj / "train" / f"{i}.png")
        frames.append({"file_path": f"./train/{i}", "transform_matrix": fr["transform_matrix"]})
    (obj / "transforms_train.json").write_text(json.dumps(
        {"camera_angle_x": tf["camera_angle_x"], "frames": frames}))
    return tmp_path / "shapenet"


def test_shapenet_render_views_fit_as_they_are_unless_the_config_says(tmp_path):
    ds = open_dataset(_shapenet_tree(tmp_path, 48))
    assert isinstance(ds, ShapeNetRenderDataset)
    rec = ds.get("chair_abc123")
    assert rec.intrinsics.width == 48 and rec.depth_scale is None
    assert load_object_views(rec, 1.0, True, 64).intrinsics == rec.intrinsics  # at most 64
    # 48 / 20 is no integer: the largest integer factor keeping >= 20 px is 2 (the 224 px
    # ShapeNetRender views fit at 112 px by default likewise).
    views = load_object_views(rec, 1.0, True, 20)
    assert views.intrinsics == rec.intrinsics.scaled(24, 24) and views.depths is None
    res = fit_object(rec, fit_config=FitConfig(steps=4, rays_per_step=64, holdout_views=2,
                                               image_size=20))
    assert res.stats["fit_resolution"] == [24, 24]


def test_a_nerf_folder_fitted_before_image_size_resumes_when_views_are_not_downsampled(
        toy_dataset, tmp_path, capsys):
    out = tmp_path / "nerfs"
    args = ["fit", "--data", str(toy_dataset), "--out", str(out), "--steps", "4", "--rays", "64",
            "--holdout", "2", "--quiet"]
    assert main([*args, "--objects", "obj000"]) == 0
    man = json.loads((out / "manifest.json").read_text())
    del man["fit_config"]["image_size"]  # as clip2nerf wrote it before the field
    (out / "manifest.json").write_text(json.dumps(man))
    capsys.readouterr()
    # Those NeRFs were fitted at the views' own size (32 px), as image_size 64 does.
    assert main(args) == 0 and "1 fitted, 1 already there" in capsys.readouterr().out
    (out / "manifest.json").write_text(json.dumps(man))  # the old header again
    # At 16 px they would not be: another fit config.
    assert main([*args, "--image-size", "16"]) == 2
    assert "another fit config" in capsys.readouterr().err


def test_rendered_views_are_at_the_dataset_size_not_the_fit_size(synth_pair, tmp_path):
    """The "rendered" views the VLM embeds (``clip2nerf render-views``) come at the dataset's
    128 px by default, though the NeRF was fitted at 64 px."""
    from clip2nerf.nerf.render_dataset import render_dataset
    from clip2nerf.nerf.runner import fit_dataset

    data, nerfs = synth_pair[128], tmp_path / "nerfs"
    entry = fit_dataset(data, nerfs, ["chair_0000"],
                        FitConfig(steps=4, rays_per_step=64, holdout_views=0))["chair_0000"]
    assert entry["fit_resolution"] == [64, 64]
    out = render_dataset(nerfs, data, tmp_path / "rendered", n_samples=16, progress=False)
    ds = open_dataset(out)
    assert ds.info["res"] == 128
    rec = ds.get("chair_0000")
    assert rec.intrinsics == open_dataset(data).get("chair_0000").intrinsics
    assert rec.load_views().shape == (8, 128, 128, 4)
