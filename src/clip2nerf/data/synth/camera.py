"""Camera placement and pinhole geometry (NeRF / OpenGL convention).

A camera-to-world matrix ``c2w`` (4, 4) has columns x (right), y (up), z (backwards: the camera
looks down its -Z axis) and the camera centre. A pixel (u, v) (u right, v down, centres at
integer + 0.5) has camera-frame direction ((u - cx) / fx, -(v - cy) / fy, -1); a point at depth d
(distance along the viewing axis) is that direction times d.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraConfig:
    """How views are placed around an object."""

    fov_deg: float = 40.0
    """Horizontal (= vertical, square images) field of view."""
    margin: float = 1.08
    """Camera distance = margin * bounding-sphere radius / sin(fov / 2): the whole object is in
    every view with a little room, and fills much of the frame."""
    elevation_deg: tuple[float, float] = (-15.0, 65.0)
    """Elevations are drawn uniformly on the sphere between these (mostly above the horizon)."""


def look_at(eye: np.ndarray, target: np.ndarray = np.zeros(3), up: np.ndarray = np.array([0.0, 0.0, 1.0])
            ) -> np.ndarray:
    """(4, 4) camera-to-world matrix of a camera at ``eye`` looking at ``target``, +Z world up."""
    z = eye - target
    z = z / np.linalg.norm(z)
    x = np.cross(up, z)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def sample_views(n_views: int, radius: float, rng: np.random.Generator, cfg: CameraConfig
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified random azimuths (every 360/n sector gets one view, in shuffled order) and
    random elevations. Returns c2w (n, 4, 4), azimuth_deg (n,), elevation_deg (n,)."""
    az = (np.arange(n_views) + rng.random(n_views)) * (360.0 / n_views)
    az = az[rng.permutation(n_views)]
    lo, hi = np.sin(np.radians(cfg.elevation_deg[0])), np.sin(np.radians(cfg.elevation_deg[1]))
    el = np.degrees(np.arcsin(rng.uniform(lo, hi, n_views)))
    c2ws = []
    for a, e in zip(np.radians(az), np.radians(el), strict=True):
        eye = radius * np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
        c2ws.append(look_at(eye))
    return np.stack(c2ws), az, el


def focal_from_fov(width: int, fov_deg: float) -> float:
    return 0.5 * width / np.tan(0.5 * np.radians(fov_deg))


def camera_distance(bounding_radius: float, cfg: CameraConfig) -> float:
    return cfg.margin * bounding_radius / np.sin(0.5 * np.radians(cfg.fov_deg))


def pixel_rays(c2w: np.ndarray, width: int, height: int, fx: float, fy: float, cx: float, cy: float,
               supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Rays through ``supersample``^2 sub-pixel points of every pixel.

    Returns origins (n, 3) and directions (n, 3), n = H * s * W * s in row-major order of the
    supersampled image; directions have camera-frame z = -1 (so ray parameter t = z-depth).
    """
    s = supersample
    u = (np.arange(width * s) + 0.5) / s
    v = (np.arange(height * s) + 0.5) / s
    uu, vv = np.meshgrid(u, v)
    d_cam = np.stack([(uu - cx) / fx, -(vv - cy) / fy, -np.ones_like(uu)], -1).reshape(-1, 3)
    dirs = d_cam @ c2w[:3, :3].T
    origins = np.broadcast_to(c2w[:3, 3], dirs.shape)
    return np.ascontiguousarray(origins), dirs


def project(points: np.ndarray, c2w: np.ndarray, fx: float, fy: float, cx: float, cy: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """World points (n, 3) -> pixel coordinates (n, 2) (u, v) and z-depth (n,)."""
    R, t = c2w[:3, :3], c2w[:3, 3]
    pc = (points - t) @ R
    depth = -pc[:, 2]
    u = fx * pc[:, 0] / depth + cx
    v = -fy * pc[:, 1] / depth + cy
    return np.stack([u, v], -1), depth


def backproject(uv: np.ndarray, depth: np.ndarray, c2w: np.ndarray, fx: float, fy: float,
                cx: float, cy: float) -> np.ndarray:
    """Pixel coordinates (n, 2) with z-depth (n,) -> world points (n, 3)."""
    pc = np.stack([(uv[:, 0] - cx) / fx * depth, -(uv[:, 1] - cy) / fy * depth, -depth], -1)
    return pc @ c2w[:3, :3].T + c2w[:3, 3]
