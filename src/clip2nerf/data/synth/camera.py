"""Where the synth cameras go: random views around an object, at a distance that frames it.

The pinhole maths (``look_at``, z-depth rays, ``project``/``backproject``) is
``clip2nerf.camera``'s, re-exported here; see that module for the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clip2nerf.camera import (
    DEFAULT_FOV_DEG,
    backproject,
    focal_from_fov,
    look_at,
    orbit_eye,
    project,
    zdepth_pixel_rays,
)

__all__ = ["CameraConfig", "backproject", "camera_distance", "focal_from_fov", "look_at",
           "project", "sample_views", "zdepth_pixel_rays"]


@dataclass(frozen=True)
class CameraConfig:
    """How views are placed around an object."""

    fov_deg: float = DEFAULT_FOV_DEG
    """Horizontal (= vertical, square images) field of view."""
    margin: float = 1.08
    """Camera distance = margin * bounding-sphere radius / sin(fov / 2): the whole object is in
    every view with a little room, and fills much of the frame."""
    elevation_deg: tuple[float, float] = (-15.0, 65.0)
    """Elevations are drawn uniformly on the sphere between these (mostly above the horizon)."""


def sample_views(n_views: int, radius: float, rng: np.random.Generator, cfg: CameraConfig
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified random azimuths (every 360/n sector gets one view, in shuffled order) and
    random elevations, cameras ``radius`` from the origin looking at it. Returns c2w
    (n, 4, 4) float64, azimuth_deg (n,), elevation_deg (n,)."""
    az = (np.arange(n_views) + rng.random(n_views)) * (360.0 / n_views)
    az = az[rng.permutation(n_views)]
    lo, hi = np.sin(np.radians(cfg.elevation_deg[0])), np.sin(np.radians(cfg.elevation_deg[1]))
    el = np.degrees(np.arcsin(rng.uniform(lo, hi, n_views)))
    c2ws = [look_at(orbit_eye(radius, a, e), dtype=np.float64)
            for a, e in zip(np.radians(az), np.radians(el), strict=True)]
    return np.stack(c2ws), az, el


def camera_distance(bounding_radius: float, cfg: CameraConfig) -> float:
    """Distance at which a sphere of ``bounding_radius`` fills the view up to ``cfg.margin``."""
    return cfg.margin * bounding_radius / np.sin(0.5 * np.radians(cfg.fov_deg))
