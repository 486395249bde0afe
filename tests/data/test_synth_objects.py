"""The part grammars: objects fit the box, differ within a class, render in every view."""

from __future__ import annotations

import numpy as np
import pytest

from clip2nerf.data.synth import CLASSES, SynthConfig, make_object, render_object
from clip2nerf.data.synth.palette import PALETTE


def test_thirteen_classes_of_the_paper():
    assert set(CLASSES) == {"airplane", "bench", "cabinet", "car", "chair", "display", "lamp",
                            "speaker", "rifle", "sofa", "table", "phone", "watercraft"}


@pytest.mark.parametrize("cls", CLASSES)
def test_object_fits_box_and_caption_names_class_and_colour(cls):
    for i in range(4):
        obj = make_object(cls, 0, i)
        lo, hi = obj.bounds()
        assert np.all(lo >= -0.7) and np.all(hi <= 0.7)
        assert np.isclose(np.max(hi - lo), 1.2, atol=1e-6)  # largest side spans 2 x 0.6
        assert np.allclose((lo + hi) / 2, 0, atol=1e-6)
        assert set(obj.colors) == set(obj.parts) and all(c in PALETTE for c in obj.colors.values())
        assert cls in obj.caption and obj.colors[obj.caption_order[0]] in obj.caption


@pytest.mark.parametrize("cls", CLASSES)
def test_objects_of_a_class_differ_and_are_deterministic(cls):
    a, b = make_object(cls, 0, 0), make_object(cls, 0, 1)
    a2 = make_object(cls, 0, 0)
    ma, mb, ma2 = a.mesh_and_colors()[0], b.mesh_and_colors()[0], a2.mesh_and_colors()[0]
    assert np.array_equal(ma.vertices, ma2.vertices) and a.caption == a2.caption
    assert ma.vertices.shape != mb.vertices.shape or not np.allclose(ma.vertices, mb.vertices)


@pytest.mark.parametrize("cls", CLASSES)
def test_every_view_has_a_whole_silhouette(cls):
    """36 views at 32 px: each shows the object, uncut by the frame, filling much of it."""
    cfg = SynthConfig(classes=(cls,), per_class=1, views=36, res=32, supersample=1, seed=0)
    for i in range(2):
        ro = render_object(cls, i, cfg)
        alpha = ro.rgba[..., 3] > 0
        assert alpha.shape == (36, 32, 32)
        assert alpha.sum(axis=(1, 2)).min() >= 8, "a view shows (almost) nothing"
        border = alpha[:, 0].any() or alpha[:, -1].any() or alpha[:, :, 0].any() or alpha[:, :, -1].any()
        assert not border, "the object is cut by the image border"
        rows, cols = alpha.any(axis=2), alpha.any(axis=1)
        span = np.maximum(rows.sum(1), cols.sum(1))
        assert np.median(span) >= 0.5 * 32, "the object is too small in the frame"
        # depth where the pixel centre hits, and only there (supersample=1: alpha is binary)
        assert np.array_equal(ro.depth > 0, alpha)


def test_supersampling_gives_soft_edges_and_keeps_centre_depth():
    cfg1 = SynthConfig(classes=("chair",), per_class=1, views=2, res=32, supersample=1)
    cfg2 = SynthConfig(classes=("chair",), per_class=1, views=2, res=32, supersample=2)
    cfg3 = SynthConfig(classes=("chair",), per_class=1, views=2, res=32, supersample=3)
    r1, r2, r3 = (render_object("chair", 0, c) for c in (cfg1, cfg2, cfg3))
    a2 = r2.rgba[..., 3]
    assert ((a2 > 0) & (a2 < 255)).any()  # partial coverage at edges
    assert np.array_equal(r1.depth, r2.depth)  # even grids cast extra centre rays
    assert np.array_equal(r1.depth, r3.depth)  # odd grids reuse the middle sub-sample


def test_pure_python_fallback_matches_embree():
    """Where embreex won't import, trimesh's own ray caster renders the same picture."""
    from clip2nerf.data.synth.camera import CameraConfig, camera_distance, focal_from_fov, look_at
    from clip2nerf.data.synth.render import MeshRenderer, _EmbreeCaster, _TrimeshCaster

    mesh, colors = make_object("lamp", 0, 0).mesh_and_colors()
    dist = camera_distance(float(np.linalg.norm(mesh.vertices, axis=1).max()), CameraConfig())
    c2w = look_at(np.array([dist * 0.8, dist * 0.5, dist * 0.33]))
    f = focal_from_fov(24, CameraConfig().fov_deg)
    fast = MeshRenderer(mesh, colors, caster=_EmbreeCaster(mesh)).render(c2w, 24, 24, f, f, 12, 12)
    slow = MeshRenderer(mesh, colors, caster=_TrimeshCaster(mesh)).render(c2w, 24, 24, f, f, 12, 12)
    same_hit = (fast[0][..., 3] > 0) == (slow[0][..., 3] > 0)
    assert same_hit.mean() > 0.98 and (fast[0][..., 3] > 0).sum() > 20
    both = (fast[1] > 0) & (slow[1] > 0)
    assert np.allclose(fast[1][both], slow[1][both], atol=1e-3)


def test_chunked_rendering_matches_one_batch():
    from clip2nerf.data.synth.render import MeshRenderer

    cfg = SynthConfig(classes=("sofa",), per_class=1, views=5, res=20, supersample=2)
    whole = render_object("sofa", 0, cfg)
    mesh, colors = make_object("sofa", 0, 0).mesh_and_colors()
    r = MeshRenderer(mesh, colors)
    r.max_rays = 2 * 40 * 40  # two views per batch
    rgba, depth = r.render_many(whole.c2w, 20, 20, whole.focal, whole.focal, 10, 10, 2)
    assert np.array_equal(rgba, whole.rgba) and np.array_equal(depth, whole.depth)
