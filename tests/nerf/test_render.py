"""Volume rendering: compositing weights, gradients, analytic fields, occupancy, early stop."""

import math

import torch

from clip2nerf.nerf.occupancy import OccupancyGrid
from clip2nerf.nerf.render import (
    accumulate_along_rays,
    render_rays,
    render_weight_from_density,
)

AABB = torch.tensor([-0.7, -0.7, -0.7, 0.7, 0.7, 0.7])


def reference_weights(t_starts, t_ends, sigmas):
    """Textbook NeRF weights with a product of (1 - alpha): a second implementation."""
    alphas = 1 - torch.exp(-sigmas * (t_ends - t_starts))
    trans = torch.cumprod(torch.cat([torch.ones_like(alphas[:, :1]), 1 - alphas[:, :-1]], 1), 1)
    return trans * alphas


def random_intervals(n_rays=7, n_samples=33, seed=0):
    g = torch.Generator().manual_seed(seed)
    deltas = torch.rand(n_rays, n_samples, generator=g, dtype=torch.float64) * 0.1
    t_ends = torch.cumsum(deltas, 1)
    sigmas = torch.rand(n_rays, n_samples, generator=g, dtype=torch.float64) * 20
    sigmas[0] = 0.0  # an empty ray
    return t_ends - deltas, t_ends, sigmas


def test_weights_sum_at_most_one_and_match_reference():
    t0, t1, s = random_intervals()
    w, trans, alphas = render_weight_from_density(t0, t1, s)
    assert (w >= 0).all() and (w.sum(1) <= 1 + 1e-12).all()
    assert torch.allclose(w, reference_weights(t0, t1, s), atol=1e-10)
    assert w[0].abs().max() == 0
    # Total weight is 1 - final transmittance.
    assert torch.allclose(w.sum(1), 1 - torch.exp(-(s * (t1 - t0)).sum(1)), atol=1e-10)


def test_weight_gradients_match_reference():
    t0, t1, s = random_intervals(seed=1)
    values = torch.rand(*s.shape, 3, dtype=torch.float64)
    s1 = s.clone().requires_grad_(True)
    s2 = s.clone().requires_grad_(True)
    out1 = accumulate_along_rays(render_weight_from_density(t0, t1, s1)[0], values)
    out2 = (reference_weights(t0, t1, s2)[..., None] * values).sum(1)
    g = torch.rand_like(out1)
    (out1 * g).sum().backward()
    (out2 * g).sum().backward()
    assert torch.allclose(out1, out2, atol=1e-10)
    assert torch.allclose(s1.grad, s2.grad, atol=1e-8)


def test_chunked_transmittance_equals_one_pass():
    t0, t1, s = random_intervals(seed=2)
    w_all, _, _ = render_weight_from_density(t0, t1, s)
    k = 10
    w_a, _, _ = render_weight_from_density(t0[:, :k], t1[:, :k], s[:, :k])
    log_t = -(s[:, :k] * (t1[:, :k] - t0[:, :k])).sum(1)
    w_b, _, _ = render_weight_from_density(t0[:, k:], t1[:, k:], s[:, k:], log_t)
    assert torch.allclose(torch.cat([w_a, w_b], 1), w_all, atol=1e-12)


def constant_field(sigma, rgb=(0.2, 0.4, 0.6)):
    colour = torch.tensor(rgb)

    def fn(xyz):
        return colour.expand(xyz.shape[0], 3), torch.full((xyz.shape[0],), float(sigma))
    return fn


def test_constant_density_box_matches_beer_lambert():
    # Rays along +X through the box: chord length 1.4, opacity 1 - exp(-sigma * 1.4).
    o = torch.tensor([[-2.0, 0.0, 0.0], [-2.0, 0.3, -0.2], [-2.0, 2.0, 0.0]])
    d = torch.tensor([[1.0, 0.0, 0.0]] * 3)
    out = render_rays(constant_field(1.5), o, d, AABB, n_samples=256, bg_color=1.0,
                      early_stop_eps=0.0)
    expect = 1 - math.exp(-1.5 * 1.4)
    # float32 sums over 256 samples: up to 256 x 6e-8 = 1.5e-5 of rounding (measured 1e-6).
    assert torch.allclose(out["opacity"][:2], torch.tensor([expect] * 2), atol=2e-5)
    assert out["opacity"][2] == 0  # misses the box: background only
    rgb = torch.tensor([0.2, 0.4, 0.6]) * expect + (1 - expect)
    assert torch.allclose(out["rgb"][0], rgb, atol=2e-5)
    assert torch.allclose(out["rgb"][2], torch.ones(3))


def test_empty_occupancy_gives_background_and_no_queries():
    grid = OccupancyGrid(torch.zeros(8, 8, 8, dtype=torch.bool), AABB)
    o = torch.tensor([[-2.0, 0.0, 0.0]])
    d = torch.tensor([[1.0, 0.0, 0.0]])
    out = render_rays(constant_field(100.0), o, d, AABB, grid, bg_color=torch.tensor([0., 1., 0.]))
    assert int(out["n_points"]) == 0
    assert torch.allclose(out["rgb"], torch.tensor([[0.0, 1.0, 0.0]]))


def test_occupancy_restricts_density_to_occupied_cells():
    # Only the half x > 0 is occupied: the chord through density is 0.7, not 1.4.
    binary = torch.zeros(8, 8, 8, dtype=torch.bool)
    binary[4:] = True
    out = render_rays(constant_field(1.0), torch.tensor([[-2.0, 0.05, 0.05]]),
                      torch.tensor([[1.0, 0.0, 0.0]]), AABB, OccupancyGrid(binary, AABB),
                      n_samples=512, early_stop_eps=0.0)
    assert abs(float(out["opacity"][0]) - (1 - math.exp(-0.7))) < 5e-3


def test_early_termination_changes_little_and_saves_queries():
    o = torch.tensor([[-2.0, 0.0, 0.0]] * 4)
    d = torch.tensor([[1.0, 0.0, 0.0]] * 4)
    full = render_rays(constant_field(50.0), o, d, AABB, early_stop_eps=0.0, chunk_samples=8)
    early = render_rays(constant_field(50.0), o, d, AABB, early_stop_eps=1e-4, chunk_samples=8)
    assert torch.allclose(full["rgb"], early["rgb"], atol=1e-3)
    assert int(early["n_points"]) < int(full["n_points"]) / 2


def test_infinite_density_gives_finite_weights_and_gradients():
    t0, t1, s = random_intervals(n_rays=3, n_samples=8, seed=3)
    s = s.float()
    s[1, 2] = float("inf")  # exp overflow in the density activation
    s.requires_grad_(True)
    w, _, _ = render_weight_from_density(t0.float(), t1.float(), s)
    assert torch.isfinite(w).all() and torch.allclose(w[1, 3:], torch.zeros(5))
    assert abs(float(w[1].detach().sum()) - 1.0) < 1e-5
    w.sum().backward()
    assert torch.isfinite(s.grad).all()


def dense_reference_render(field_fn, o, d, grid, n_samples, bg):
    """Every ray marched at full length on a padded (ray, sample) block, empty-cell samples
    given zero density: a second implementation of ``render_rays`` (no packing)."""
    from clip2nerf.nerf.rays import ray_aabb_intersect

    step = float((AABB[3:] - AABB[:3]).norm()) / n_samples
    tn, tf, hit = ray_aabb_intersect(o, d, AABB)
    k = torch.arange(n_samples + 1, dtype=torch.float32)
    t0 = tn[:, None] + k * step
    t1 = torch.minimum(t0 + step, tf[:, None])
    ok = (t0 < tf[:, None]) & hit[:, None]
    mid = t0 + 0.5 * (t1 - t0)
    ok &= grid.query((o[:, None] + d[:, None] * mid[..., None]).reshape(-1, 3)).reshape(ok.shape)
    rgb, sig = field_fn((o[:, None] + d[:, None] * mid[..., None]).reshape(-1, 3))
    sig = torch.where(ok, sig.reshape(ok.shape), 0.0)
    w = reference_weights(t0, torch.where(ok, t1, t0), sig)
    op = w.sum(-1)
    return accumulate_along_rays(w, rgb.reshape(*ok.shape, 3)) + (1 - op)[:, None] * bg, op


def test_packed_rendering_matches_dense_reference_values_and_gradients():
    from clip2nerf.nerf.config import NerfConfig
    from clip2nerf.nerf.field import NerfField

    torch.manual_seed(0)
    field = NerfField(NerfConfig(n_freqs=4))
    grid = OccupancyGrid(torch.rand(8, 8, 8) < 0.4, AABB)
    o = torch.randn(64, 3) * 0.2 + torch.tensor([0.0, 0.0, -2.0])
    d = torch.nn.functional.normalize(torch.randn(64, 3) * 0.3 + torch.tensor([0.0, 0.0, 1.0]),
                                      dim=-1)
    out = render_rays(field, o, d, AABB, grid, n_samples=48, bg_color=1.0, early_stop_eps=0.0,
                      chunk_samples=None)
    g_fast = torch.autograd.grad(out["rgb"].sum() + out["opacity"].sum(),
                                 field.layers[0].weight)[0]
    rgb_ref, op_ref = dense_reference_render(field, o, d, grid, 48, 1.0)
    g_ref = torch.autograd.grad(rgb_ref.sum() + op_ref.sum(), field.layers[0].weight)[0]
    assert float(out["opacity"].detach().max()) > 0.05 and int(out["n_points"]) > 0  # not trivial
    # Two float32 orders of the same sums over <= 49 samples: 49 x 6e-8 = 3e-6 at most.
    assert torch.allclose(out["opacity"], op_ref, atol=1e-5)
    assert torch.allclose(out["rgb"], rgb_ref, atol=1e-5)
    assert torch.allclose(g_fast, g_ref, atol=1e-4 * float(g_ref.abs().max()))
    # Chunked marching (as when rendering images) gives the same result (same float32 bound).
    chunked = render_rays(field, o, d, AABB, grid, n_samples=48, early_stop_eps=0.0,
                          chunk_samples=5)
    assert torch.allclose(chunked["rgb"], out["rgb"], atol=1e-5)
