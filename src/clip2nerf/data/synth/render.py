"""Ray-cast renderer: RGBA + z-depth of a coloured triangle mesh, Lambert + ambient shading.

Uses trimesh's Embree intersector (``embreex``) when it imports, else trimesh's pure-Python
intersector (needs ``rtree``; about 50x slower). Lights are fixed in the world, so a surface
point has the same colour in every view (what a NeRF without view dependence can fit).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import trimesh

from clip2nerf.data.synth.camera import pixel_rays


@dataclass(frozen=True)
class ShadingConfig:
    ambient: float = 0.38
    lights: tuple[tuple[tuple[float, float, float], float], ...] = (
        ((0.35, 0.45, 1.0), 0.55),   # key light from above
        ((-0.7, -0.4, 0.2), 0.25),   # fill from the other side
        ((0.2, -0.9, -0.3), 0.12),   # weak rim from below, so undersides aren't flat
    )


def make_intersector(mesh: trimesh.Trimesh):
    """Embree intersector if available, else trimesh's pure-Python one."""
    try:
        from trimesh.ray.ray_pyembree import RayMeshIntersector

        return RayMeshIntersector(mesh)
    except ImportError:
        warnings.warn("embreex is not importable: using trimesh's slow pure-Python ray caster",
                      stacklevel=2)
        from trimesh.ray.ray_triangle import RayMeshIntersector as Slow

        return Slow(mesh)


class MeshRenderer:
    """Renders one mesh with per-face colours from many cameras.

    Args:
        mesh: the object.
        face_colors: (n_faces, 3) float albedo in [0, 1].
    """

    def __init__(self, mesh: trimesh.Trimesh, face_colors: np.ndarray,
                 shading: ShadingConfig = ShadingConfig()):
        self.mesh = mesh
        self.face_colors = np.asarray(face_colors, np.float32)
        self.normals = np.asarray(mesh.face_normals, np.float64)
        self.intersector = make_intersector(mesh)
        dirs = np.array([d for d, _ in shading.lights], np.float64)
        self.light_dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        self.light_power = np.array([p for _, p in shading.lights])
        self.ambient = shading.ambient

    def _cast(self, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First hits: ray index (k,), face index (k,), hit point (k, 3)."""
        tri, ray, loc = self.intersector.intersects_id(origins, dirs, multiple_hits=False,
                                                       return_locations=True)
        return np.asarray(ray), np.asarray(tri), np.asarray(loc, np.float64)

    def render(self, c2w: np.ndarray, width: int, height: int, fx: float, fy: float,
               cx: float, cy: float, supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """One view: RGBA (H, W, 4) uint8 (straight alpha = pixel coverage) and z-depth (H, W)
        float32 at pixel centres, 0 where the centre ray misses."""
        s = int(supersample)
        origins, dirs = pixel_rays(c2w, width, height, fx, fy, cx, cy, s)
        ray, tri, loc = self._cast(origins, dirs)
        n = origins.shape[0]
        n_hat = self.normals[tri]
        view = dirs[ray] / np.linalg.norm(dirs[ray], axis=1, keepdims=True)
        # Two-sided: face the normal towards the camera (thin parts are seen from both sides).
        n_hat = np.where((np.sum(n_hat * view, 1) > 0)[:, None], -n_hat, n_hat)
        light = self.ambient + np.clip(n_hat @ self.light_dirs.T, 0, None) @ self.light_power
        rgb = np.zeros((n, 3), np.float64)
        rgb[ray] = np.clip(self.face_colors[tri] * light[:, None], 0.0, 1.0)
        hit = np.zeros(n, np.float64)
        hit[ray] = 1.0
        rgb = rgb.reshape(height, s, width, s, 3)
        hit = hit.reshape(height, s, width, s)
        cover = hit.mean(axis=(1, 3))
        col = (rgb * hit[..., None]).sum(axis=(1, 3)) / np.maximum(hit.sum(axis=(1, 3)), 1)[..., None]
        rgba = np.concatenate([col, cover[..., None]], -1)
        rgba = np.round(rgba * 255.0).astype(np.uint8)
        depth = self._depth(c2w, origins, dirs, ray, loc, width, height, fx, fy, cx, cy, s)
        return rgba, depth

    def _depth(self, c2w, origins, dirs, ray, loc, width, height, fx, fy, cx, cy, s) -> np.ndarray:
        fwd = -c2w[:3, 2]
        if s % 2 == 1:
            # The middle sub-sample of an odd grid sits exactly on the pixel centre: reuse it.
            zfull = np.zeros(origins.shape[0])
            zfull[ray] = (loc - origins[ray]) @ fwd
            z = zfull.reshape(height, s, width, s)[:, s // 2, :, s // 2]
        else:
            o, d = pixel_rays(c2w, width, height, fx, fy, cx, cy, 1)
            r, _, lc = self._cast(o, d)
            z = np.zeros(o.shape[0])
            z[r] = (lc - o[r]) @ fwd
            z = z.reshape(height, width)
        return z.astype(np.float32)
