"""Mesh primitives the part grammars are built from (all in world units, +Z up).

Every helper returns a closed ``trimesh.Trimesh``. Shapes that trimesh lacks (tapered boxes,
wedges, rounded slabs, hulls through cross-sections) are convex hulls of a few points, which
keeps them watertight and cheap to ray-cast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import trimesh

Vec = Sequence[float]

SECTIONS = 20
"""Polygon segments of round primitives: smooth enough at 128 px, cheap to build."""


def box(center: Vec, size: Vec) -> trimesh.Trimesh:
    """Axis-aligned box with its centre at ``center`` and edge lengths ``size`` (3,)."""
    return trimesh.creation.box(extents=np.asarray(size, float),
                                transform=trimesh.transformations.translation_matrix(center))


def hull(points: np.ndarray) -> trimesh.Trimesh:
    """Convex hull of ``points`` (n, 3)."""
    return trimesh.convex.convex_hull(np.asarray(points, float))


def tapered_box(center: Vec, bottom: tuple[float, float], top: tuple[float, float],
                height: float, shift: tuple[float, float] = (0.0, 0.0)) -> trimesh.Trimesh:
    """A frustum of a box: ``bottom``/``top`` are (x, y) sizes, the top shifted by ``shift``."""
    cx, cy, cz = center
    pts = []
    for (sx, sy), z, (dx, dy) in ((bottom, cz - height / 2, (0, 0)), (top, cz + height / 2, shift)):
        for ix in (-0.5, 0.5):
            for iy in (-0.5, 0.5):
                pts.append((cx + dx + ix * sx, cy + dy + iy * sy, z))
    return hull(np.array(pts))


def rounded_slab(center: Vec, size: Vec, radius: float, axis: int = 1) -> trimesh.Trimesh:
    """A slab with rounded corners: ``size`` (3,) extents, thin along ``axis``."""
    size = np.asarray(size, float)
    other = [a for a in range(3) if a != axis]
    r = min(radius, 0.499 * size[other[0]], 0.499 * size[other[1]])
    t = np.linspace(0, 2 * np.pi, SECTIONS, endpoint=False)
    pts = []
    for qa in (-1, 1):
        for qb in (-1, 1):
            ca = qa * (size[other[0]] / 2 - r)
            cb = qb * (size[other[1]] / 2 - r)
            for th in t:
                for s in (-0.5, 0.5):
                    p = np.zeros(3)
                    p[other[0]] = ca + r * np.cos(th)
                    p[other[1]] = cb + r * np.sin(th)
                    p[axis] = s * size[axis]
                    pts.append(p)
    return hull(np.array(pts) + np.asarray(center, float))


def cylinder(p0: Vec, p1: Vec, radius: float, sections: int = SECTIONS) -> trimesh.Trimesh:
    """Solid cylinder from point ``p0`` to ``p1``."""
    return trimesh.creation.cylinder(radius=radius, segment=np.array([p0, p1], float),
                                     sections=sections)


def frustum(p0: Vec, p1: Vec, r0: float, r1: float, sections: int = SECTIONS) -> trimesh.Trimesh:
    """Solid truncated cone from ``p0`` (radius ``r0``) to ``p1`` (radius ``r1``); r may be 0."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    axis = p1 - p0
    axis /= np.linalg.norm(axis)
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    t = np.linspace(0, 2 * np.pi, sections, endpoint=False)
    ring = np.cos(t)[:, None] * u + np.sin(t)[:, None] * v
    pts = [p0 + max(r0, 1e-4) * ring, p1 + max(r1, 1e-4) * ring]
    return hull(np.concatenate(pts))


def ellipsoid(center: Vec, radii: Vec, subdivisions: int = 2) -> trimesh.Trimesh:
    """Axis-aligned ellipsoid."""
    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0)
    m.apply_scale(1.0)
    m.vertices = m.vertices * np.asarray(radii, float) + np.asarray(center, float)
    return m


def disc(center: Vec, normal: Vec, radius: float, thickness: float) -> trimesh.Trimesh:
    """A thin cylinder centred at ``center`` whose faces point along ``normal``."""
    c, n = np.asarray(center, float), np.asarray(normal, float)
    n = n / np.linalg.norm(n)
    return cylinder(c - n * thickness / 2, c + n * thickness / 2, radius)


def lofted_hull(sections: Sequence[tuple[float, float, float, float, float]],
                n: int = 12) -> trimesh.Trimesh:
    """Hull through elliptic cross-sections along X: ``(x, y_c, z_c, half_width, half_height)``."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = []
    for x, yc, zc, hw, hh in sections:
        hw, hh = max(hw, 1e-3), max(hh, 1e-3)
        pts.append(np.stack([np.full_like(t, x), yc + hw * np.cos(t), zc + hh * np.sin(t)], 1))
    return hull(np.concatenate(pts))


def rotate_z(mesh: trimesh.Trimesh, angle: float, about: Vec = (0, 0, 0)) -> trimesh.Trimesh:
    """Rotate ``mesh`` in place about the vertical axis through ``about``; returns it."""
    mesh.apply_transform(trimesh.transformations.rotation_matrix(angle, (0, 0, 1), about))
    return mesh


def rotate(mesh: trimesh.Trimesh, angle: float, axis: Vec, about: Vec = (0, 0, 0)
           ) -> trimesh.Trimesh:
    """Rotate ``mesh`` in place by ``angle`` radians about ``axis`` through ``about``."""
    mesh.apply_transform(trimesh.transformations.rotation_matrix(angle, axis, about))
    return mesh
