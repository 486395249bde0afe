"""Occupancy carving is conservative; frequency limiting keeps the function; supersampling."""

import numpy as np
import torch
from nerf_toy_scene import render_scene, scene_shapes

from clip2nerf.data.layouts import open_dataset
from clip2nerf.nerf.field import NerfField
from clip2nerf.nerf.fit import split_views
from clip2nerf.nerf.occupancy import OccupancyGrid, grid_from_views, occupied_ray_bounds
from clip2nerf.nerf.rays import rays_from_camera
from clip2nerf.nerf.render import render_image


def _views(rec):
    rgba = torch.from_numpy(rec.load_views()).float() / 255
    return rgba[..., 3], torch.from_numpy(rec.load_depths()), torch.from_numpy(rec.poses())


def test_carved_grid_keeps_every_visible_surface_point(toy_dataset):
    rec = open_dataset(toy_dataset).get("obj000")
    alphas, depths, poses = _views(rec)
    aabb = torch.tensor([-0.7] * 3 + [0.7] * 3)
    hull = grid_from_views(rec.intrinsics, poses, alphas, aabb, 32)
    tight = grid_from_views(rec.intrinsics, poses, alphas, aabb, 32, depths=depths,
                            interior_margin=3 * 1.4 / 32)
    assert tight.occupied_fraction() <= hull.occupied_fraction() < 0.5
    # Surface points seen by the views (from the analytic scene) must all stay occupied.
    o, d = rays_from_camera(rec.intrinsics, poses)
    _, t = render_scene(o.double().numpy(), d.double().numpy(), scene_shapes(0))
    hit = np.isfinite(t)
    pts = (o.double() + d.double() * torch.from_numpy(np.where(hit, t, 0))[:, None])[hit]
    assert hull.query(pts.float()).all() and tight.query(pts.float()).all()


def test_ray_bounds_contain_all_occupied_samples():
    binary = torch.zeros(16, 16, 16, dtype=torch.bool)
    binary[5:9, 6:12, 3:5] = True
    grid = OccupancyGrid(binary, torch.tensor([-0.7] * 3 + [0.7] * 3))
    g = torch.Generator().manual_seed(0)
    o = torch.randn(500, 3, generator=g) * 2
    d = -o + torch.randn(500, 3, generator=g) * 0.3
    d = d / d.norm(dim=-1, keepdim=True)
    t_min, t_max, hit = occupied_ray_bounds(grid, o, d)
    t = torch.linspace(0, 6, 3000)
    occ = grid.query((o[:, None] + d[:, None] * t[None, :, None]).reshape(-1, 3)).reshape(500, -1)
    crosses = occ.any(1)
    assert crosses.sum() > 20 and (hit | ~crosses).all()
    inside = (t[None] >= t_min[:, None]) & (t[None] <= t_max[:, None])
    assert (inside | ~occ).all()


def test_frequency_limit_keeps_function_and_layout():
    torch.manual_seed(0)
    f = NerfField()
    f.limit_frequencies(6)
    x = torch.rand(64, 3) - 0.5
    rgb_a, sig_a = f(x)
    w = f.layers[0].weight
    cols = torch.tensor([d * 48 + 2 * k + j for d in range(3) for k in range(6, 24)
                         for j in range(2)])
    assert w[:, cols].abs().max() == 0
    sig_a.sum().backward()
    assert w.grad[:, cols].abs().max() == 0  # stays zero under training
    f.limit_frequencies(None)
    rgb_b, sig_b = f(x)
    # Same function, other float32 sums (36 active columns vs 144 with zeros): <= 144 terms x
    # 6e-8 of the raw output (measured 6e-8 vs float64); sigma = exp(raw), so relative.
    assert torch.allclose(rgb_a, rgb_b, atol=1e-5) and torch.allclose(sig_a, sig_b, rtol=1e-4)
    assert tuple(f.state_dict()["layers.0.weight"].shape) == (64, 144)


def test_supersampled_render_averages_subpixels():
    from clip2nerf.data.dataset import Intrinsics
    from clip2nerf.nerf.rays import look_at

    def half_plane(xyz):  # dense where y > 0, seen edge-on as a vertical edge in the image
        sig = torch.where(xyz[:, 1] > 0, 1e4, 0.0)
        return torch.zeros(xyz.shape[0], 3), sig

    intr = Intrinsics(2, 1, 20.0, 20.0, 1.0, 0.5)  # narrow: every sub-pixel ray meets the box
    img = render_image(half_plane, intr, look_at((3.0, 0.0, 0.0)), [-.7] * 3 + [.7] * 3,
                       n_samples=256, supersample=4)
    # Looking along -X, +Y is on the camera's right: right pixel opaque, left one clear.
    assert img[0, 1, 3] > 0.99 and img[0, 0, 3] < 0.01
    # A sub-pixel offset edge: the edge at 1/4 of the right pixel gives 3/4 coverage.
    def shifted(xyz):
        return half_plane(xyz - torch.tensor([0.0, 0.25 * 2.9 / 20.0, 0.0]))

    img = render_image(shifted, intr, look_at((3.0, 0.0, 0.0)), [-.7] * 3 + [.7] * 3,
                       n_samples=256, supersample=4)
    assert 0.6 < float(img[0, 1, 3]) < 0.9


def test_split_views_is_even_and_disjoint():
    train, held = split_views(36, 4)
    assert len(held) == 4 and not set(train) & set(held) and len(train) + 4 == 36
    assert np.diff(held).min() >= 8
    assert split_views(10, 0) == (list(range(10)), [])


def test_behind_surface_bounds_cut_only_inside_opaque_neighbourhoods():
    from clip2nerf.data.dataset import Intrinsics
    from clip2nerf.nerf.fit import _behind_surface_bounds
    from clip2nerf.nerf.rays import camera_directions

    intr = Intrinsics(width=8, height=6, fx=8.0, fy=8.0, cx=4.0, cy=3.0)
    alphas = torch.ones(1, 6, 8)
    alphas[0, 0, 5] = 0.5  # a partly covered pixel: its neighbours must not be cut
    depths = torch.full((1, 6, 8), 2.0)
    depths[0, 3, 2] = 3.0  # a farther surface: its neighbours' bound uses it
    t = _behind_surface_bounds(intr, alphas, depths, margin=0.1)[0]
    cos = -camera_directions(intr)[..., 2]
    assert torch.isinf(t[0]).all() and torch.isinf(t[-1]).all()  # image border
    assert torch.isinf(t[:, 0]).all() and torch.isinf(t[:, -1]).all()
    assert torch.isinf(t[1, 4:7]).all()  # next to the partly covered pixel
    assert torch.allclose(t[4, 1:4], 3.0 / cos[4, 1:4] + 0.1)  # neighbours of the far pixel
    assert torch.allclose(t[4, 5], 2.0 / cos[4, 5] + 0.1)
    # The cut is always behind the pixel centre's own surface.
    finite = torch.isfinite(t)
    assert (t[finite] > (depths[0] / cos)[finite]).all()
