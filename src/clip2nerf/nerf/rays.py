"""Rays against the NeRF's box. The cameras and rays themselves live in ``clip2nerf.camera``
(re-exported here): unit ray directions, so ray parameters ``t`` are world distances.
"""

from __future__ import annotations

import torch

from clip2nerf.camera import (
    camera_directions,
    default_intrinsics,
    look_at,
    orbit_cameras,
    rays_from_camera,
    unit_pixel_rays,
)

__all__ = ["camera_directions", "default_intrinsics", "look_at", "orbit_cameras",
           "ray_aabb_intersect", "rays_from_camera", "unit_pixel_rays"]


def ray_aabb_intersect(rays_o: torch.Tensor, rays_d: torch.Tensor, aabb: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slab test of rays against an axis-aligned box.

    Args:
        rays_o: (n_rays, 3) origins.
        rays_d: (n_rays, 3) directions.
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
