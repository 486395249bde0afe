"""A tiny analytic scene written in the clip2nerf dataset format, for NeRF tests.

Each object is a Lambert-shaded sphere and box (view-independent shading, so the NeRF
architecture can represent it exactly), ray-cast analytically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from clip2nerf.nerf.rays import default_intrinsics, orbit_cameras, rays_from_camera

LIGHT = np.array([0.4, -0.5, 0.77]) / np.linalg.norm([0.4, -0.5, 0.77])


def _hit_sphere(o, d, c, r):
    oc = o - c
    b = (oc * d).sum(-1)
    disc = b * b - ((oc * oc).sum(-1) - r * r)
    t = -b - np.sqrt(np.maximum(disc, 0))
    hit = (disc > 0) & (t > 0)
    n = (o + d * np.where(hit, t, 0)[:, None] - c) / r
    return np.where(hit, t, np.inf), n


def _hit_box(o, d, lo, hi):
    inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
    t0, t1 = (lo - o) * inv, (hi - o) * inv
    tn, tf = np.minimum(t0, t1).max(-1), np.maximum(t0, t1).min(-1)
    t = np.where((tf > tn) & (tn > 0), tn, np.inf)
    axis = np.minimum(t0, t1).argmax(-1)
    n = np.zeros_like(o)
    n[np.arange(len(o)), axis] = -np.sign(d[np.arange(len(o)), axis])
    return t, n


def render_scene(o, d, shapes):
    """(n,3) rays -> (n,4) RGBA float in [0,1], (n,) hit distance (inf on background)."""
    best = np.full(len(o), np.inf)
    rgb = np.zeros((len(o), 3))
    for kind, params, colour in shapes:
        t, n = _hit_sphere(o, d, *params) if kind == "sphere" else _hit_box(o, d, *params)
        shade = 0.35 + 0.65 * np.clip((n * LIGHT).sum(-1), 0, 1)
        closer = t < best
        best = np.where(closer, t, best)
        rgb[closer] = np.asarray(colour)[None] * shade[closer, None]
    alpha = np.isfinite(best).astype(np.float64)
    return np.concatenate([rgb * alpha[:, None], alpha[:, None]], -1), best


def scene_shapes(seed: int):
    rng = np.random.default_rng(seed)
    c = rng.uniform(-0.15, 0.15, 3)
    return [
        ("sphere", (c + [0.1, 0.0, 0.1], 0.28), rng.uniform(0.2, 0.9, 3)),
        ("box", (np.array([-0.45, -0.3, -0.45]), np.array([0.1, 0.35, -0.05])),
         rng.uniform(0.2, 0.9, 3)),
    ]


def write_dataset(root: Path, n_objects: int = 2, n_views: int = 24, res: int = 32,
                  radius: float = 2.0) -> Path:
    """Write ``n_objects`` sphere+box objects into a clip2nerf dataset folder."""
    intr = default_intrinsics(res, fov_deg=40.0)
    poses = np.concatenate([orbit_cameras(n_views // 2, radius, 25.0),
                            orbit_cameras(n_views - n_views // 2, radius, -15.0, 15.0)])
    ids = [f"obj{i:03d}" for i in range(n_objects)]
    depth_scale = 1e-4
    for i, oid in enumerate(ids):
        od = root / "objects" / oid
        (od / "views").mkdir(parents=True)
        (od / "depth").mkdir()
        shapes = scene_shapes(i)
        frames = []
        for v, c2w in enumerate(poses):
            ro, rd = rays_from_camera(intr, c2w)
            ro, rd = ro.double().numpy(), rd.double().numpy()
            rgba, t = render_scene(ro, rd, shapes)
            cam_z = -(rd @ c2w[:3, 2].astype(np.float64))  # depth along the viewing axis
            z = np.where(np.isfinite(t), t * cam_z, 0.0)
            img = (rgba.reshape(res, res, 4) * 255 + 0.5).astype(np.uint8)
            Image.fromarray(img, "RGBA").save(od / "views" / f"{v:02d}.png")
            Image.fromarray((z / depth_scale + 0.5).astype(np.uint16).reshape(res, res)).save(
                od / "depth" / f"{v:02d}.png")
            frames.append({"file_path": f"views/{v:02d}.png",
                           "depth_file_path": f"depth/{v:02d}.png",
                           "transform_matrix": c2w.tolist()})
        tf = {"camera_angle_x": 2 * math.atan(0.5 * res / intr.fx), "w": res, "h": res,
              "fl_x": intr.fx, "fl_y": intr.fy, "cx": intr.cx, "cy": intr.cy,
              "aabb": [[-0.7] * 3, [0.7] * 3], "depth_scale": depth_scale, "frames": frames}
        (od / "transforms.json").write_text(json.dumps(tf))
        (od / "meta.json").write_text(json.dumps({"object_id": oid, "class": "toy",
                                                   "caption": "a sphere and a box"}))
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("\n".join(ids) + "\n")
    (root / "dataset.json").write_text(json.dumps({"format": "clip2nerf-dataset", "version": 1,
                                                   "classes": ["toy"], "name": "toy"}))
    return root
