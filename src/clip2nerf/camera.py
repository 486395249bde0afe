"""Pinhole cameras, their placement and their rays: one convention for ``data`` and ``nerf``.

Conventions (NeRF / OpenGL / Blender, as in ``transforms.json``):

- World frame: +Z up, objects centred at the origin.
- A camera-to-world matrix ``c2w`` (4, 4) has columns x (right), y (up), z (backwards: the
  camera looks down its -Z axis) and the camera centre.
- A pixel (u, v) (u = column, right; v = row, down) has its centre at integer + 0.5 and looks
  along the camera-frame direction ((u - cx) / fx, -(v - cy) / fy, -1).

Rays come in two parametrisations, named in each function:

- **z-depth** (``zdepth_pixel_rays``, ``project``, ``backproject`` in numpy float64;
  ``project_points`` in torch): the direction keeps camera-frame z = -1, so the ray parameter
  ``t`` is the depth along the viewing axis. The synth ray caster, the datasets' depth maps
  and occupancy carving use it.
- **distance** (``camera_directions``, ``rays_from_camera``, ``unit_pixel_rays``; torch
  float32): directions have unit length, so ``t`` is the world distance from the camera
  centre. Volume rendering and NeRF fitting use it.

Only numpy and pydantic (the schema of ``transforms.json``'s camera keys) are imported here;
the torch functions import torch when called, so the synth writer's worker processes never
load it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import BeforeValidator

from clip2nerf.utils.bounds import MAX_IMAGE_SIDE, Bound
from clip2nerf.utils.validate import parse, schema

if TYPE_CHECKING:
    import torch

DEFAULT_FOV_DEG = 40.0
"""Field of view (horizontal = vertical, square images) of the synth cameras and of every
view rendered from a NeRF file (``clip2nerf render``, thumbnails, nf2vec's views)."""
DEFAULT_ORBIT_RADIUS = 1.91
"""Camera distance of the views rendered from a NeRF file (``clip2nerf render --radius``,
the applications' thumbnails) and ``orbit_cameras``' default: the closest the synth cameras
come (``1.08 · r / sin 20°`` for an object whose bounding sphere ``r`` is about its 0.6
half-extent; the tiny dataset's distances run from 1.91 to 3.22), so the object fills the
thumbnail. nf2vec's views and rendering loss use their own radius, 2.1
(``clip2nerf.nf2vec.views.CAMERA_RADIUS``): trained nf2vec models depend on that one."""


def _integral(v: Any) -> Any:
    # NeRF tools write image sizes as floats ("w": 800.0); a whole float is that integer.
    return int(v) if isinstance(v, float) and v.is_integer() else v


SIDE = Bound(int, 1, MAX_IMAGE_SIDE, note="pixels per side")
POSITIVE = Bound(float, 0.0, lo_open=True)
ANGLE_X = Bound(float, 0.0, math.pi, lo_open=True, hi_open=True, note="radians")
Side = Annotated[SIDE.field, BeforeValidator(_integral)]


@schema(extra="ignore")
@dataclass(frozen=True, kw_only=True)
class CameraFields:
    """The camera keys of a ``transforms.json`` (NeRF convention; other keys are ignored):
    ``w``/``h`` or the first view's size, then ``fl_x`` (``fl_y`` defaults to it) or
    ``camera_angle_x``; ``cx``/``cy`` default to the image centre."""

    w: Side | None = None
    h: Side | None = None
    fl_x: POSITIVE.field | None = None
    fl_y: POSITIVE.field | None = None
    camera_angle_x: ANGLE_X.field | None = None
    cx: float | None = None
    cy: float | None = None


CAMERA_KEYS = ("w", "h", "fl_x", "fl_y", "camera_angle_x", "cx", "cy")


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels; pixel centres sit at integer + 0.5."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_transforms(cls, tf: dict[str, Any] | CameraFields,
                        image_size: tuple[int, int] | None = None) -> Intrinsics:
        """Read ``fl_x/fl_y/cx/cy/w/h`` or, failing that, ``camera_angle_x`` (+ image size).

        Raises ``ValueError`` naming the field (schema ``CameraFields``): sizes must be
        integers in 1..MAX_IMAGE_SIDE, focal lengths finite and positive, the angle in
        (0, pi), principal points finite.
        """
        if not isinstance(tf, CameraFields):
            tf = parse(CameraFields, {k: tf[k] for k in CAMERA_KEYS if k in tf}, "")
        w, h = tf.w, tf.h
        if (w is None or h is None) and image_size is not None:
            w, h = parse(tuple[Side, Side], list(image_size), "image size")
        if w is None or h is None:
            raise ValueError("give w and h (or a readable first view)")
        if tf.fl_x is not None:
            fx = tf.fl_x
            fy = tf.fl_y if tf.fl_y is not None else fx
        elif tf.camera_angle_x is not None:
            fx = fy = float(0.5 * w / np.tan(0.5 * tf.camera_angle_x))
        else:
            raise ValueError("give fl_x or camera_angle_x")
        cx = tf.cx if tf.cx is not None else w / 2.0
        cy = tf.cy if tf.cy is not None else h / 2.0
        return cls(w, h, float(fx), float(fy), float(cx), float(cy))

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same camera at another resolution."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(width, height, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)


def focal_from_fov(width: int, fov_deg: float) -> float:
    """Focal length in pixels of an image ``width`` pixels wide with horizontal field of view
    ``fov_deg``."""
    return 0.5 * width / math.tan(math.radians(fov_deg) / 2)


def default_intrinsics(res: int, fov_deg: float = DEFAULT_FOV_DEG) -> Intrinsics:
    """Square pinhole camera of ``res`` pixels and horizontal field of view ``fov_deg``."""
    f = focal_from_fov(res, fov_deg)
    return Intrinsics(res, res, f, f, res / 2.0, res / 2.0)


# ---------------------------------------------------------------------------------------------
# Placement


def look_at(eye: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0),
            up: Sequence[float] | np.ndarray = (0.0, 0.0, 1.0), dtype: type = np.float32
            ) -> np.ndarray:
    """(4, 4) camera-to-world matrix of a camera at ``eye`` looking at ``target`` (default the
    origin), with ``up`` (default world +Z) up in the image.

    Computed in float64 and returned as ``dtype``: float32 (the renderers' precision) unless
    asked otherwise (the synth writer keeps float64 cameras). Looking straight along ``up``,
    any perpendicular right axis is chosen.
    """
    eye_a = np.asarray(eye, dtype=np.float64)
    z = eye_a - np.asarray(target, dtype=np.float64)  # camera +Z points away from the target
    z = z / np.linalg.norm(z)
    x = np.cross(np.asarray(up, dtype=np.float64), z)
    if np.linalg.norm(x) < 1e-8:
        x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye_a
    return c2w.astype(dtype)


def orbit_eye(radius: float, azimuth_rad: float, elevation_rad: float) -> np.ndarray:
    """(3,) point at ``radius`` from the origin, azimuth from +X towards +Y around +Z,
    elevation above the XY plane."""
    return radius * np.array([np.cos(elevation_rad) * np.cos(azimuth_rad),
                              np.cos(elevation_rad) * np.sin(azimuth_rad), np.sin(elevation_rad)])


def orbit_cameras(n_views: int, radius: float = DEFAULT_ORBIT_RADIUS, elevation_deg: float = 30.0,
                  azimuth0_deg: float = 0.0, target: Sequence[float] = (0.0, 0.0, 0.0)
                  ) -> np.ndarray:
    """``n_views`` cameras evenly spaced in azimuth (from ``azimuth0_deg``) on a circle around
    +Z at ``elevation_deg``, ``radius`` from ``target`` and looking at it.

    Returns:
        (n_views, 4, 4) float32 camera-to-world matrices.
    """
    el = math.radians(elevation_deg)
    poses = [look_at(orbit_eye(radius, math.radians(azimuth0_deg + 360.0 * v / n_views), el)
                     + np.asarray(target, dtype=np.float64), target) for v in range(n_views)]
    return np.stack(poses)


# ---------------------------------------------------------------------------------------------
# z-depth rays and projection: ray parameter t = depth along the viewing axis


def zdepth_pixel_rays(c2w: np.ndarray, width: int, height: int, fx: float, fy: float, cx: float,
                      cy: float, supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Rays through ``supersample``^2 sub-pixel points of every pixel, parametrised by z-depth.

    Returns origins (n, 3) and directions (n, 3), n = H * s * W * s in row-major order of the
    supersampled image; directions have camera-frame z = -1 (not unit length), so the point at
    ray parameter ``t`` lies at depth ``t`` along the viewing axis.
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


def project_points(xyz: torch.Tensor, intrinsics: Intrinsics, c2w: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Project world points into a camera (torch; ``project`` is the numpy float64 twin).

    Args:
        xyz: (n, 3) world points; ``c2w``: (4, 4).
    Returns:
        ``col, row, z``: (n,) each; pixel coordinates (pixel centres at +0.5) and depth along
        the viewing axis (positive in front of the camera).
    """
    import torch

    rot, t = c2w[:3, :3], c2w[:3, 3]
    p = (xyz - t) @ rot  # world -> camera: R^T (x - t)
    z = -p[:, 2]
    zs = torch.where(z.abs() < 1e-9, torch.full_like(z, 1e-9), z)
    col = intrinsics.fx * p[:, 0] / zs + intrinsics.cx
    row = -intrinsics.fy * p[:, 1] / zs + intrinsics.cy
    return col, row, z


# ---------------------------------------------------------------------------------------------
# Unit-direction rays (torch float32): ray parameter t = world distance


def _as_tensor(x: np.ndarray | torch.Tensor, device: torch.device | str | None = None
               ) -> torch.Tensor:
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(device=device or x.device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)


def camera_directions(intrinsics: Intrinsics, device: torch.device | str | None = None
                      ) -> torch.Tensor:
    """Unit ray directions in camera coordinates for every pixel centre (t = distance).

    Returns:
        (H, W, 3) directions; pixel (row j, column i) looks along
        ``((i + 0.5 - cx) / fx, -(j + 0.5 - cy) / fy, -1)`` normalised.
    """
    import torch

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
    """Rays through every pixel centre of one or more cameras, unit directions (t = distance).

    Args:
        intrinsics: pinhole camera (shared by all poses).
        c2w: (4, 4) or (n_cams, 4, 4) camera-to-world matrices (3x4 also accepted), any float
            dtype (used as float32).
    Returns:
        ``rays_o, rays_d``: (H·W, 3) each for one camera, or (n_cams·H·W, 3), row-major
        pixels per camera; ``rays_d`` unit length.
    """
    import torch

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


def unit_pixel_rays(intrinsics: Intrinsics, c2w: torch.Tensor, view: torch.Tensor,
                    col: torch.Tensor, row: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through arbitrary (sub-)pixel positions of several cameras, unit directions
    (t = distance).

    Args:
        c2w: (n_cams, 4, 4); view: (n,) long camera index per ray.
        col, row: (n,) float pixel coordinates (pixel centres at integer + 0.5).
    Returns:
        ``rays_o, rays_d``: (n, 3) each, ``rays_d`` unit length.
    """
    import torch

    d = torch.stack([(col - intrinsics.cx) / intrinsics.fx,
                     -(row - intrinsics.cy) / intrinsics.fy, -torch.ones_like(col)], dim=-1)
    rot = c2w[view, :3, :3]  # (n, 3, 3)
    rays_d = torch.einsum("nij,nj->ni", rot, d)
    rays_d = rays_d / rays_d.norm(dim=-1, keepdim=True)
    return c2w[view, :3, 3].contiguous(), rays_d
