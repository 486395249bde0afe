"""Cameras and rays. Conventions follow ``clip2nerf.data.dataset``: camera-to-world 4x4
matrices in the OpenGL/Blender convention (the camera looks down its -Z axis, +Y up, +X right),
pixel centres at integer + 0.5, world +Z up. Ray directions are unit length, so ray
parameters ``t`` are world distances.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from clip2nerf.data.dataset import Intrinsics


def _as_tensor(x: np.ndarray | torch.Tensor, device: torch.device | str | None = None
               ) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device or x.device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)


def camera_directions(intrinsics: Intrinsics, device: torch.device | str | None = None
                      ) -> torch.Tensor:
    """Unit ray directions in camera coordinates for every pixel.

    Returns:
        (H, W, 3) directions; pixel (row j, column i) looks along
        ``((i + 0.5 - cx) / fx, -(j + 0.5 - cy) / fy, -1)`` normalised.
    """
    intr = intrinsics
    i = torch.arange(intr.width, dtype=torch.float32, device=device) + 0.5
    j = torch.arange(intr.height, dtype=torch.float32, device=device) + 0.5
    jj, ii = torch.meshgrid(j, i, indexing="ij")
    d = torch.stack([(ii - intr.cx) / intr.fx, -(jj - intr.cy) / intr.fy,
                     -torch.ones_like(ii)], dim=-1)
    return d / d.norm(dim=-1, keepdim=True)


def rays_from_camera(intrinsics: Intrinsics, c2w: np.ndarray | torch.Tensor,
                     device: torch.device | str | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through every pixel centre of one or more cameras.

    Args:
        intrinsics: pinhole camera (shared by all poses).
        c2w: (4, 4) or (n_cams, 4, 4) camera-to-world matrices (3x4 also accepted).
    Returns:
        ``rays_o, rays_d``: (H·W, 3) each for one camera, or (n_cams·H·W, 3), row-major
        pixels per camera; ``rays_d`` unit length.
    """
    c2w = _as_tensor(c2w, device)
    single = c2w.dim() == 2
    if single:
        c2w = c2w[None]
    dirs = camera_directions(intrinsics, c2w.device).reshape(-1, 3)  # (HW, 3)
    rot = c2w[:, :3, :3]  # (C, 3, 3)
    rays_d = torch.einsum("cij,pj->cpi", rot, dirs)
    rays_d = rays_d / rays_d.norm(dim=-1, keepdim=True)
    rays_o = c2w[:, None, :3, 3].expand_as(rays_d)
    return rays_o.reshape(-1, 3).contiguous(), rays_d.reshape(-1, 3).contiguous()


def look_at(eye: Sequence[float], target: Sequence[float] = (0.0, 0.0, 0.0),
            up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """(4, 4) float32 camera-to-world matrix of a camera at ``eye`` looking at ``target``."""
    eye_a = np.asarray(eye, dtype=np.float64)
    z = eye_a - np.asarray(target, dtype=np.float64)  # camera +Z points away from the target
    z /= np.linalg.norm(z)
    x = np.cross(np.asarray(up, dtype=np.float64), z)
    if np.linalg.norm(x) < 1e-8:  # looking straight along `up`: pick any perpendicular
        x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, eye_a
    return m.astype(np.float32)


def orbit_cameras(n_views: int, radius: float = 2.0, elevation_deg: float = 30.0,
                  azimuth0_deg: float = 0.0, target: Sequence[float] = (0.0, 0.0, 0.0)
                  ) -> np.ndarray:
    """``n_views`` cameras evenly spaced in azimuth on a circle around +Z, looking at target.

    Returns:
        (n_views, 4, 4) float32 camera-to-world matrices.
    """
    poses = []
    el = math.radians(elevation_deg)
    for v in range(n_views):
        az = math.radians(azimuth0_deg + 360.0 * v / n_views)
        eye = (radius * math.cos(el) * math.cos(az), radius * math.cos(el) * math.sin(az),
               radius * math.sin(el))
        eye = tuple(e + t for e, t in zip(eye, target, strict=True))
        poses.append(look_at(eye, target))
    return np.stack(poses)


def default_intrinsics(res: int, fov_deg: float = 40.0) -> Intrinsics:
    """Square pinhole camera of ``res`` pixels and horizontal field of view ``fov_deg``."""
    f = 0.5 * res / math.tan(math.radians(fov_deg) / 2)
    return Intrinsics(res, res, f, f, res / 2.0, res / 2.0)


def ray_aabb_intersect(rays_o: torch.Tensor, rays_d: torch.Tensor, aabb: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slab test of rays against an axis-aligned box.

    Args:
        rays_o, rays_d: (n_rays, 3).
        aabb: (6,) ``[xmin, ymin, zmin, xmax, ymax, zmax]``.
    Returns:
        ``t_near, t_far, hit``: (n_rays,) each; ``t_near >= 0`` (a ray starting inside the box
        starts at 0); ``hit`` is False where the ray misses the box (then t_near = t_far).
    """
    inv = 1.0 / torch.where(rays_d.abs() < 1e-12, torch.full_like(rays_d, 1e-12), rays_d)
    t0 = (aabb[:3] - rays_o) * inv
    t1 = (aabb[3:] - rays_o) * inv
    t_near = torch.minimum(t0, t1).amax(dim=-1).clamp(min=0.0)
    t_far = torch.maximum(t0, t1).amin(dim=-1)
    hit = t_far > t_near
    t_far = torch.where(hit, t_far, t_near)
    return t_near, t_far, hit


def pixel_rays(intrinsics: Intrinsics, c2w: torch.Tensor, view: torch.Tensor,
               col: torch.Tensor, row: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through arbitrary (sub-)pixel positions of several cameras.

    Args:
        c2w: (n_cams, 4, 4); view: (n,) long camera index per ray.
        col, row: (n,) float pixel coordinates (pixel centres at integer + 0.5).
    Returns:
        ``rays_o, rays_d``: (n, 3) each, ``rays_d`` unit length.
    """
    d = torch.stack([(col - intrinsics.cx) / intrinsics.fx,
                     -(row - intrinsics.cy) / intrinsics.fy, -torch.ones_like(col)], dim=-1)
    rot = c2w[view, :3, :3]  # (n, 3, 3)
    rays_d = torch.einsum("nij,nj->ni", rot, d)
    rays_d = rays_d / rays_d.norm(dim=-1, keepdim=True)
    return c2w[view, :3, 3].contiguous(), rays_d
