"""Camera and ray maths against hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from clip2nerf.data.dataset import Intrinsics
from clip2nerf.nerf.occupancy import project_points
from clip2nerf.nerf.rays import (
    look_at,
    orbit_cameras,
    ray_aabb_intersect,
    rays_from_camera,
)


def test_identity_camera_pixel_directions():
    intr = Intrinsics(width=2, height=2, fx=1.0, fy=1.0, cx=1.0, cy=1.0)
    o, d = rays_from_camera(intr, np.eye(4, dtype=np.float32))
    assert o.shape == d.shape == (4, 3)
    assert torch.allclose(o, torch.zeros(4, 3))
    # Row-major pixels; pixel (row 0, col 0) centre is (0.5, 0.5): x = -0.5, y = +0.5 (up).
    expected = torch.tensor([[-0.5, 0.5, -1.0], [0.5, 0.5, -1.0],
                             [-0.5, -0.5, -1.0], [0.5, -0.5, -1.0]])
    expected = expected / expected.norm(dim=-1, keepdim=True)
    assert torch.allclose(d, expected, atol=1e-6)


def test_translated_rotated_camera():
    # Camera at (3, 0, 0) looking at the origin, +Z up: its centre ray points along -X.
    c2w = look_at((3.0, 0.0, 0.0))
    assert np.allclose(c2w[:3, 3], [3, 0, 0])
    assert np.allclose(c2w[:3, 1], [0, 0, 1], atol=1e-6)  # camera up = world up
    intr = Intrinsics(width=1, height=1, fx=1.0, fy=1.0, cx=0.5, cy=0.5)
    o, d = rays_from_camera(intr, c2w)
    assert torch.allclose(o, torch.tensor([[3.0, 0.0, 0.0]]))
    assert torch.allclose(d, torch.tensor([[-1.0, 0.0, 0.0]]), atol=1e-6)
    # A pixel right of centre looks towards +Y... from +X looking at the origin, right is +Y.
    intr2 = Intrinsics(width=3, height=1, fx=1.0, fy=1.0, cx=1.5, cy=0.5)
    _, d2 = rays_from_camera(intr2, c2w)
    assert d2[2, 1] > 0 and d2[0, 1] < 0


def test_orbit_cameras_look_at_target():
    poses = orbit_cameras(6, radius=2.5, elevation_deg=30.0)
    assert poses.shape == (6, 4, 4)
    assert np.allclose(np.linalg.norm(poses[:, :3, 3], axis=1), 2.5, atol=1e-5)
    assert np.allclose(poses[:, 2, 3], 2.5 * math.sin(math.radians(30)), atol=1e-5)
    for p in poses:
        assert np.allclose(p[:3, :3] @ p[:3, :3].T, np.eye(3), atol=1e-5)
        forward = -p[:3, 2]
        assert np.allclose(forward, -p[:3, 3] / np.linalg.norm(p[:3, 3]), atol=1e-5)


def test_ray_aabb_intersect_cases():
    aabb = torch.tensor([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0])
    o = torch.tensor([[-3.0, 0.0, 0.0], [-3.0, 2.0, 0.0], [0.0, 0.0, 0.0], [-3.0, -3.0, 0.0]])
    d = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0],
                      [1 / math.sqrt(2), 1 / math.sqrt(2), 0.0]])
    tn, tf, hit = ray_aabb_intersect(o, d, aabb)
    assert hit.tolist() == [True, False, True, True]
    assert torch.allclose(tn[0], torch.tensor(2.0)) and torch.allclose(tf[0], torch.tensor(4.0))
    assert tn[2] == 0.0 and torch.allclose(tf[2], torch.tensor(1.0))  # starts inside
    assert torch.allclose(tn[3], torch.tensor(2 * math.sqrt(2)), atol=1e-5)
    assert torch.allclose(tf[3], torch.tensor(4 * math.sqrt(2)), atol=1e-5)


def test_projection_inverts_rays():
    intr = Intrinsics(width=16, height=12, fx=20.0, fy=18.0, cx=8.0, cy=6.0)
    c2w = torch.from_numpy(look_at((1.0, -2.0, 1.5)))
    o, d = rays_from_camera(intr, c2w)
    pts = o + d * 1.7
    col, row, z = project_points(pts, intr, c2w)
    jj, ii = torch.meshgrid(torch.arange(12.0), torch.arange(16.0), indexing="ij")
    assert torch.allclose(col, ii.reshape(-1) + 0.5, atol=1e-3)
    assert torch.allclose(row, jj.reshape(-1) + 0.5, atol=1e-3)
    assert (z > 0).all()


@pytest.mark.parametrize("n", [1, 3])
def test_batched_cameras_concatenate(n):
    intr = Intrinsics(4, 3, 5.0, 5.0, 2.0, 1.5)
    poses = orbit_cameras(n)
    o, d = rays_from_camera(intr, poses)
    assert o.shape == (n * 12, 3)
    o1, d1 = rays_from_camera(intr, poses[-1])
    assert torch.allclose(d[-12:], d1) and torch.allclose(o[-12:], o1)
