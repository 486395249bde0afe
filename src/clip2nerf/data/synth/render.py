"""Ray-cast renderer: RGBA + z-depth of a coloured triangle mesh, Lambert + ambient shading.

Uses Embree (``embreex``) when it imports, else trimesh's pure-Python
intersector (needs ``rtree``; about 50x slower). Lights are fixed in the world, so a surface
point has the same colour in every view (what a NeRF without view dependence can fit).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import trimesh

from clip2nerf.camera import zdepth_pixel_rays


@dataclass(frozen=True)
class ShadingConfig:
    ambient: float = 0.38
    lights: tuple[tuple[tuple[float, float, float], float], ...] = (
        ((0.35, 0.45, 1.0), 0.55),   # key light from above
        ((-0.7, -0.4, 0.2), 0.25),   # fill from the other side
        ((0.2, -0.9, -0.3), 0.12),   # weak rim from below, so undersides aren't flat
    )


class _EmbreeCaster:
    """First-hit ray casting with embreex directly: returns the ray parameter ``t`` without
    trimesh's extra plane intersections (the renderer's rays have camera-z = -1, so t = z-depth)."""

    def __init__(self, mesh: trimesh.Trimesh):
        from embreex import rtcore_scene
        from embreex.mesh_construction import TriangleMesh

        self.scene = rtcore_scene.EmbreeScene()
        TriangleMesh(scene=self.scene, vertices=np.asarray(mesh.vertices, np.float32),
                     indices=np.asarray(mesh.faces, np.int32))

    def cast(self, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        res = self.scene.run(origins.astype(np.float32), dirs.astype(np.float32), output=1)
        tri = np.asarray(res["primID"])
        ray = np.nonzero(tri >= 0)[0]
        return ray, tri[ray], np.asarray(res["tfar"], np.float64)[ray]


class _TrimeshCaster:
    """trimesh's pure-Python intersector (needs rtree): slow, used only without embreex."""

    def __init__(self, mesh: trimesh.Trimesh):
        from trimesh.ray.ray_triangle import RayMeshIntersector

        self.intersector = RayMeshIntersector(mesh)

    def cast(self, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tri, ray, loc = self.intersector.intersects_id(origins, dirs, multiple_hits=False,
                                                       return_locations=True)
        ray, tri = np.asarray(ray), np.asarray(tri)
        d = dirs[ray]
        t = np.sum((np.asarray(loc) - origins[ray]) * d, 1) / np.sum(d * d, 1)
        return ray, tri, t


def make_caster(mesh: trimesh.Trimesh):
    """Embree if ``embreex`` imports, else trimesh's pure-Python caster (with a warning)."""
    try:
        return _EmbreeCaster(mesh)
    except ImportError:
        warnings.warn("embreex is not importable: using trimesh's slow pure-Python ray caster",
                      stacklevel=2)
        return _TrimeshCaster(mesh)


class MeshRenderer:
    """Renders one mesh with per-face colours from many cameras.

    ``max_rays`` bounds one ray-casting batch (about 200 bytes of arrays per ray).

    Args:
        mesh: the object.
        face_colors: (n_faces, 3) float albedo in [0, 1].
    """

    max_rays: int = 2_000_000

    def __init__(self, mesh: trimesh.Trimesh, face_colors: np.ndarray,
                 shading: ShadingConfig = ShadingConfig(), caster=None):
        self.mesh = mesh
        self.face_colors = np.asarray(face_colors, np.float32)
        self.normals = np.asarray(mesh.face_normals, np.float64)
        self.caster = caster if caster is not None else make_caster(mesh)
        dirs = np.array([d for d, _ in shading.lights], np.float64)
        self.light_dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        self.light_power = np.array([p for _, p in shading.lights])
        self.ambient = shading.ambient

    def render(self, c2w: np.ndarray, width: int, height: int, fx: float, fy: float,
               cx: float, cy: float, supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """One view: RGBA (H, W, 4) uint8 and z-depth (H, W) float32 (see ``render_many``)."""
        rgba, depth = self.render_many(c2w[None], width, height, fx, fy, cx, cy, supersample)
        return rgba[0], depth[0]

    def render_many(self, c2ws: np.ndarray, width: int, height: int, fx: float, fy: float,
                    cx: float, cy: float, supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Views from cameras ``c2ws`` (n, 4, 4), all rays cast in one batch.

        Returns RGBA (n, H, W, 4) uint8 (straight alpha = pixel coverage by ``supersample``^2
        sub-pixel rays) and z-depth (n, H, W) float32 at pixel centres, 0 where the centre ray
        misses.
        """
        s = int(supersample)
        per_view = height * s * width * s
        chunk = max(1, self.max_rays // per_view)
        if len(c2ws) > chunk:  # bound memory at large resolutions
            parts = [self.render_many(c2ws[i:i + chunk], width, height, fx, fy, cx, cy, s)
                     for i in range(0, len(c2ws), chunk)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        n_views = len(c2ws)
        rays = [zdepth_pixel_rays(m, width, height, fx, fy, cx, cy, s) for m in c2ws]
        if s % 2 == 0:
            # Even grids have no sub-sample on the pixel centre: add centre rays for depth.
            rays += [zdepth_pixel_rays(m, width, height, fx, fy, cx, cy, 1) for m in c2ws]
        origins = np.concatenate([o for o, _ in rays])
        dirs = np.concatenate([d for _, d in rays])
        ray, tri, t = self.caster.cast(origins, dirs)
        sub = ray < n_views * per_view
        rgba = self._shade(dirs, ray[sub], tri[sub], n_views * per_view)
        rgba = rgba.reshape(n_views, height, s, width, s, 4).mean(axis=(2, 4))
        cover = rgba[..., 3:4]
        rgb = rgba[..., :3] / np.maximum(cover, 1e-12)  # straight (not premultiplied) colour
        out = np.round(np.concatenate([rgb, cover], -1) * 255.0).astype(np.uint8)
        z = np.zeros(origins.shape[0])
        z[ray] = t
        if s % 2 == 0:
            depth = z[n_views * per_view:].reshape(n_views, height, width)
        else:
            depth = z.reshape(n_views, height, s, width, s)[:, :, s // 2, :, s // 2]
        return out, depth.astype(np.float32)

    def _shade(self, dirs: np.ndarray, ray: np.ndarray, tri: np.ndarray, n: int) -> np.ndarray:
        """(n, 4) premultiplied RGBA of the first ``n`` rays given their hits."""
        n_hat = self.normals[tri]
        # Two-sided: face the normal towards the camera (thin parts are seen from both sides).
        n_hat = np.where((np.sum(n_hat * dirs[ray], 1) > 0)[:, None], -n_hat, n_hat)
        light = self.ambient + np.clip(n_hat @ self.light_dirs.T, 0, None) @ self.light_power
        out = np.zeros((n, 4), np.float64)
        out[ray, :3] = np.clip(self.face_colors[tri] * light[:, None], 0.0, 1.0)
        out[ray, 3] = 1.0
        return out
