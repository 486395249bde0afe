"""clip2nerf.camera: the two ray parametrisations describe the same pixels."""

import numpy as np
import torch

from clip2nerf.camera import (
    DEFAULT_ORBIT_RADIUS,
    Intrinsics,
    look_at,
    orbit_cameras,
    project,
    rays_from_camera,
    unit_pixel_rays,
    zdepth_pixel_rays,
)


def test_zdepth_and_unit_rays_reach_the_same_points():
    intr = Intrinsics(width=5, height=4, fx=6.0, fy=7.0, cx=2.4, cy=2.1)
    c2w = look_at((1.5, -2.0, 1.0), dtype=np.float64)
    o_z, d_z = zdepth_pixel_rays(c2w, intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy)
    o_u, d_u = rays_from_camera(intr, c2w)
    depth = 1.3
    p_z = o_z + depth * d_z  # z-depth: t is the depth along the viewing axis
    _, z = project(p_z, c2w, intr.fx, intr.fy, intr.cx, intr.cy)
    assert np.allclose(z, depth)
    dist = np.linalg.norm(p_z - o_z, axis=1)  # distance: t is the distance from the centre
    p_u = o_u.numpy() + dist[:, None] * d_u.numpy()
    assert np.allclose(p_u, p_z, atol=1e-5)
    assert torch.allclose(d_u.norm(dim=1), torch.ones(20))
    # Arbitrary sub-pixel positions: pixel centres give the same rays as the full grid.
    cols, rows = np.meshgrid(np.arange(5) + 0.5, np.arange(4) + 0.5)
    o_p, d_p = unit_pixel_rays(intr, torch.from_numpy(c2w[None]).float(),
                               torch.zeros(20, dtype=torch.long),
                               torch.tensor(cols.ravel(), dtype=torch.float32),
                               torch.tensor(rows.ravel(), dtype=torch.float32))
    assert torch.allclose(d_p, d_u, atol=1e-6) and torch.allclose(o_p, o_u)


def test_look_at_precision_and_orbit_default():
    eye = (0.3, 1.7, 0.9)
    hi, lo = look_at(eye, dtype=np.float64), look_at(eye)
    assert hi.dtype == np.float64 and lo.dtype == np.float32
    assert np.array_equal(hi.astype(np.float32), lo)
    poses = orbit_cameras(5)
    assert poses.dtype == np.float32
    assert np.allclose(np.linalg.norm(poses[:, :3, 3], axis=1), DEFAULT_ORBIT_RADIUS)
