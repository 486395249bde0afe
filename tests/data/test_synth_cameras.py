"""Cameras, depth and the file format agree: a depth pixel back-projected through view i lands
on view j's depth map (where visible) within about a pixel."""

from __future__ import annotations

import numpy as np

from clip2nerf.data.layouts import open_dataset
from clip2nerf.data.synth import SynthConfig, backproject, generate_dataset, look_at, project


def test_look_at_convention():
    c2w = look_at(np.array([3.0, 0.0, 0.0]))
    uv, d = project(np.array([[0.0, 0, 0], [0, 0, 0.5], [0, 0.5, 0]]), c2w, 50, 50, 16, 16)
    assert np.allclose(uv[0], [16, 16]) and np.isclose(d[0], 3.0)
    assert uv[1, 1] < 16  # +Z world is up in the image (v grows downwards)
    assert uv[2, 0] > 16  # camera on +X looking at the origin sees +Y on its right
    assert np.allclose(c2w[:3, 2], [1, 0, 0])  # the camera looks down its -Z axis


def test_depth_reprojects_across_views(tmp_path):
    cfg = SynthConfig(classes=("chair", "car"), per_class=1, views=6, res=64, supersample=2, seed=1)
    generate_dataset(tmp_path / "ds", cfg, progress=False)
    ds = open_dataset(tmp_path / "ds")
    tol = 0.05  # depth units; a pixel here spans ~0.035 units on the object
    for rec in ds.iter_objects():
        K = rec.intrinsics
        poses, depths = rec.poses().astype(np.float64), rec.load_depths()
        padded = np.pad(depths, ((0, 0), (1, 1), (1, 1)))
        n_points = n_match = n_bad = 0
        for i in range(rec.n_views):
            v, u = np.nonzero(depths[i] > 0)
            uv = np.stack([u + 0.5, v + 0.5], -1)  # pixel centres
            pts = backproject(uv, depths[i][v, u].astype(np.float64), poses[i], K.fx, K.fy, K.cx, K.cy)
            assert np.all(np.abs(pts) <= 0.7 + 1e-3), "back-projected points leave the object box"
            for j in range(rec.n_views):
                if j == i:
                    continue
                uvj, zj = project(pts, poses[j], K.fx, K.fy, K.cx, K.cy)
                pj = np.floor(uvj).astype(int)
                inside = (pj >= 0).all(1) & (pj < [K.width, K.height]).all(1)
                assert inside.all(), "a surface point of view i falls outside view j"
                # 3x3 neighbourhood (within ~1 px) of the projected pixel in view j's depth map
                nb = np.stack([padded[j][pj[:, 1] + 1 + dy, pj[:, 0] + 1 + dx]
                               for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 1)
                z = zj[:, None]
                match = (np.abs(nb - z) < tol).any(1)
                occluded = ((nb > 0) & (nb < z - tol)).any(1)
                n_points += len(z)
                n_match += int(match.sum())
                n_bad += int((~match & ~occluded).sum())
        # Nothing seen in view i may be missing from view j (unless hidden behind a nearer surface)
        assert n_bad / n_points < 0.01, f"{rec.object_id}: {n_bad}/{n_points} points inconsistent"
        assert n_match / n_points > 0.3, f"{rec.object_id}: too few points seen again"


def test_a_wrong_camera_convention_would_fail(tmp_path):
    """The check above has teeth: flipping the image y axis breaks it."""
    cfg = SynthConfig(classes=("chair",), per_class=1, views=4, res=48, supersample=1, seed=2)
    generate_dataset(tmp_path / "ds", cfg, progress=False)
    rec = open_dataset(tmp_path / "ds").get("chair_0000")
    K, poses, depths = rec.intrinsics, rec.poses().astype(np.float64), rec.load_depths()
    v, u = np.nonzero(depths[0] > 0)
    flipped_v = K.height - 1 - v
    pts = backproject(np.stack([u + 0.5, flipped_v + 0.5], -1), depths[0][v, u].astype(np.float64),
                      poses[0], K.fx, K.fy, K.cx, K.cy)
    uvj, zj = project(pts, poses[1], K.fx, K.fy, K.cx, K.cy)
    pj = np.clip(np.floor(uvj).astype(int), 0, K.width - 1)
    dj = depths[1][pj[:, 1], pj[:, 0]]
    assert (np.abs(dj - zj) < 0.05).mean() < 0.5
