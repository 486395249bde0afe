"""Volume rendering with any field: a small functional core (nerfacc-style vocabulary).

Vocabulary, the same everywhere: ``rays_o, rays_d`` (n_rays, 3), unit directions;
``t_starts, t_ends`` (n_rays, n_samples) interval bounds along each ray; ``sigmas`` (n_rays,
n_samples) densities; ``weights`` (n_rays, n_samples) compositing weights; ``field_fn`` any
callable ``xyz (n, 3) -> (rgb (n, 3), sigma (n,))`` (a ``NerfField``, an nf2vec decoder
closure, ...). Samples are taken only inside the box and, given an occupancy grid, only in
occupied cells; empty samples get density 0 and are never sent to the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from clip2nerf.camera import Intrinsics, rays_from_camera
from clip2nerf.nerf.occupancy import OccupancyGrid
from clip2nerf.nerf.rays import ray_aabb_intersect

FieldFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def render_weight_from_density(t_starts: torch.Tensor, t_ends: torch.Tensor,
                               sigmas: torch.Tensor, log_t0: torch.Tensor | None = None
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Compositing weights of samples along each ray.

    ``alpha_i = 1 - exp(-sigma_i · delta_i)``, ``T_i = exp(-Σ_{j<i} sigma_j · delta_j)``,
    ``w_i = T_i · alpha_i``; so ``Σ_i w_i = 1 - T_end <= 1``.

    Args:
        t_starts: (n_rays, n_samples) where each interval starts along its ray.
        t_ends: (n_rays, n_samples) where it ends.
        sigmas: (n_rays, n_samples) densities.
        log_t0: optional (n_rays,) log-transmittance in front of the first sample (for
            marching a ray in chunks); 0 by default.
    Returns:
        ``weights, transmittance, alphas``: (n_rays, n_samples) each.
    """
    # Optical depth per interval, capped: beyond ~1e3 alpha is exactly 1 in float32 anyway,
    # and an infinite density (exp overflow) would make the prefix sums inf - inf = NaN.
    sd = (sigmas * (t_ends - t_starts)).clamp(max=1e3)
    excl = torch.cumsum(sd, dim=-1) - sd  # exclusive prefix sum: exact zero for the first sample
    if log_t0 is not None:
        excl = excl - log_t0[:, None]
    trans = torch.exp(-excl)
    alphas = 1.0 - torch.exp(-sd)
    return trans * alphas, trans, alphas


def accumulate_along_rays(weights: torch.Tensor, values: torch.Tensor | None = None
                          ) -> torch.Tensor:
    """Weighted sum over samples.

    Args:
        weights: (n_rays, n_samples).
        values: (n_rays, n_samples, D), or None to sum the weights (opacity).
    Returns:
        (n_rays, D), or (n_rays,) when ``values`` is None.
    """
    if values is None:
        return weights.sum(dim=-1)
    return (weights[..., None] * values).sum(dim=-2)


def step_size_for(aabb: torch.Tensor, n_samples: int) -> float:
    """Sample spacing so that the box diagonal holds ``n_samples`` samples."""
    diag = float((aabb[3:] - aabb[:3]).norm())
    return diag / n_samples


def _packed_weights(ray_idx: torch.Tensor, n_rays: int, deltas: torch.Tensor,
                    sigmas: torch.Tensor, log_t0: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Compositing weights of packed samples (``render_weight_from_density`` without padding).

    Args:
        ray_idx: (n,) long, sorted: which ray each sample belongs to (a ray's samples are
            contiguous and in marching order).
        n_rays: number of rays ``ray_idx`` indexes.
        deltas, sigmas: (n,) interval lengths and densities.
        log_t0: (n,) log-transmittance in front of each sample's ray segment.
    Returns:
        ``weights, optical_depth``: (n,) each.
    """
    sd = (sigmas * deltas).clamp(max=1e3)  # see render_weight_from_density
    # One global prefix sum minus each ray's offset; in float64 so the offsets of earlier
    # (possibly opaque, 1e3-deep) rays cancel exactly enough.
    sd64 = sd.double()
    csum = torch.cumsum(sd64, 0)
    per_ray = torch.zeros(n_rays, dtype=torch.float64, device=sd.device).index_add(
        0, ray_idx, sd64)
    offset = torch.cumsum(per_ray, 0) - per_ray  # sum over all earlier rays
    excl = (csum - sd64 - offset[ray_idx]).float() - log_t0
    return torch.exp(-excl) * (1.0 - torch.exp(-sd)), sd


def render_rays(field_fn: FieldFn, rays_o: torch.Tensor, rays_d: torch.Tensor,
                aabb: torch.Tensor | list[float], occupancy: OccupancyGrid | None = None,
                n_samples: int = 128, bg_color: float | torch.Tensor = 1.0,
                early_stop_eps: float = 1e-4, stratified: bool = False,
                chunk_samples: int | None = 32, t_min: torch.Tensor | None = None,
                t_max: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Render rays through a field inside an axis-aligned box.

    Samples sit at a fixed spacing (``n_samples`` along the box diagonal) from where each ray
    enters the box; a ray is marched ``chunk_samples`` samples at a time and dropped once its
    transmittance falls below ``early_stop_eps`` (early termination; ``chunk_samples=None``
    marches all samples at once, the fastest way to train).

    Args:
        field_fn: ``xyz (n, 3) -> (rgb (n, 3), sigma (n,))``.
        rays_o: (n_rays, 3) origins.
        rays_d: (n_rays, 3) unit-length directions.
        aabb: (6,) ``[xmin, ymin, zmin, xmax, ymax, zmax]``.
        occupancy: skip samples in empty cells when given.
        n_samples: samples along the box diagonal (shorter chords get fewer).
        bg_color: background colour composited behind the field: float or (3,) tensor.
        early_stop_eps: transmittance below which a ray stops (0 disables).
        stratified: jitter the sample inside each interval (training) instead of its middle.
        chunk_samples: samples marched per step along the rays.
        t_min: optional (n_rays,) start of the sampled range (e.g. where a ray enters the
            occupancy grid, see ``occupancy.occupied_ray_bounds``).
        t_max: optional (n_rays,) end of the sampled range.
    Returns:
        dict with ``rgb`` (n_rays, 3) composited on ``bg_color``, ``opacity`` (n_rays,),
        ``depth`` (n_rays,) expected distance along the ray (background contributes 0;
        divide by opacity for the surface distance), ``n_points`` () number of field queries.
    """
    device = rays_o.device
    aabb_t = torch.as_tensor(aabb, dtype=torch.float32, device=device).reshape(6)
    n_rays = rays_o.shape[0]
    step = step_size_for(aabb_t, n_samples)
    t_near, t_far, hit = ray_aabb_intersect(rays_o, rays_d, aabb_t)
    if t_min is not None:
        t_near = torch.maximum(t_near, t_min)
    if t_max is not None:
        t_far = torch.minimum(t_far, t_max)
    if t_min is not None or t_max is not None:
        hit = hit & (t_far > t_near)

    acc_rgb = torch.zeros(n_rays, 3, device=device)
    acc_op = torch.zeros(n_rays, device=device)
    acc_depth = torch.zeros(n_rays, device=device)
    log_t = torch.zeros(n_rays, device=device)
    n_points = 0

    active = torch.nonzero(hit).squeeze(-1)
    if active.numel():
        # Steps of the longest chord among the active rays (rays with shorter chords mask
        # their extra steps out with ``valid``): n_samples on the box diagonal, possibly one
        # more when float rounding puts that chord a hair over n_samples steps.
        max_steps = int(math.ceil(float(((t_far - t_near)[active]).max()) / step))
    else:
        max_steps = 0
    chunk = max_steps if chunk_samples is None else chunk_samples
    if occupancy is not None:
        # Per-ray affine map t -> continuous cell coordinates, so the occupancy lookup of the
        # dense (ray, sample) block costs a few fused ops instead of a full point query.
        res = occupancy.resolution
        scale = res / (occupancy.aabb[3:] - occupancy.aabb[:3])
        g_o = (rays_o - occupancy.aabb[:3]) * scale  # (n_rays, 3)
        g_d = rays_d * scale
        occ_flat = occupancy.binary.reshape(-1)
        strides = torch.tensor([res * res, res, 1], device=device)
    for c0 in range(0, max_steps, max(chunk, 1)):
        if active.numel() == 0:
            break
        c1 = min(c0 + chunk, max_steps)
        k = torch.arange(c0, c1, device=device, dtype=torch.float32)
        tn, tf = t_near[active, None], t_far[active, None]
        t_starts = tn + k * step  # (a, c)
        valid = t_starts < tf
        if occupancy is not None:
            # Which intervals have their midpoint in an occupied cell (dense, no gradient).
            # Midpoints lie in [t_near, t_far], inside the box: clamping only absorbs rounding.
            t_c = torch.minimum(t_starts + 0.5 * step, tf)
            cell = torch.addcmul(g_o[active, None], g_d[active, None], t_c[..., None])
            flat = (cell.long().clamp_(0, res - 1) * strides).sum(-1)
            valid = valid & occ_flat[flat]
        # Packed samples: only valid (ray, sample) pairs are built, queried and composited.
        ri, ki = torch.nonzero(valid, as_tuple=True)  # row-major: each ray's samples contiguous
        n_valid = int(ri.numel())
        if n_valid == 0:
            continue
        n_points += n_valid
        ray = active[ri]
        ts = t_near[ray] + (ki.float() + c0) * step
        te = torch.minimum(ts + step, t_far[ray])
        u = torch.rand_like(ts) if stratified else 0.5
        t_mid = ts + u * (te - ts)
        pts = torch.addcmul(rays_o[ray], rays_d[ray], t_mid[:, None])
        rgb, sig = field_fn(pts)
        w, sd = _packed_weights(ri, active.numel(), te - ts, sig.float(), log_t[ray])
        acc_rgb = acc_rgb.index_add(0, ray, w[:, None] * rgb.float())
        acc_op = acc_op.index_add(0, ray, w)
        acc_depth = acc_depth.index_add(0, ray, w * t_mid)
        log_t = log_t.index_add(0, ray, -sd)
        if early_stop_eps > 0:
            active = active[torch.exp(log_t[active]) > early_stop_eps]

    bg = torch.as_tensor(bg_color, dtype=torch.float32, device=device)
    rgb_out = acc_rgb + (1.0 - acc_op)[:, None] * bg
    return {"rgb": rgb_out, "opacity": acc_op, "depth": acc_depth,
            "n_points": torch.tensor(n_points)}


@torch.no_grad()
def render_image(field_fn: FieldFn, intrinsics: Intrinsics, c2w: np.ndarray | torch.Tensor,
                 aabb: torch.Tensor | list[float], occupancy: OccupancyGrid | None = None,
                 n_samples: int = 128, bg_color: float | torch.Tensor = 1.0,
                 early_stop_eps: float = 1e-4, ray_batch: int = 16384,
                 device: torch.device | str = "cpu", supersample: int = 1) -> torch.Tensor:
    """Render one camera.

    Args:
        intrinsics: pinhole camera; ``c2w``: (4, 4) camera-to-world (OpenGL convention).
        supersample: ``s`` renders an ``s x s`` grid of rays per pixel and averages them
            (anti-aliasing, as the dataset's views are rendered); 1 = pixel centres.
    Returns:
        (H, W, 4) float32 on CPU: rgb composited on ``bg_color`` and opacity, in [0, 1].
    """
    s = max(int(supersample), 1)
    fine = intrinsics.scaled(intrinsics.width * s, intrinsics.height * s)
    rays_o, rays_d = rays_from_camera(fine, c2w, device=device)
    rgb, op = [], []
    for b in range(0, rays_o.shape[0], ray_batch):
        out = render_rays(field_fn, rays_o[b:b + ray_batch], rays_d[b:b + ray_batch], aabb,
                          occupancy, n_samples=n_samples, bg_color=bg_color,
                          early_stop_eps=early_stop_eps)
        rgb.append(out["rgb"])
        op.append(out["opacity"])
    img = torch.cat([torch.cat(rgb), torch.cat(op)[:, None]], dim=-1)
    h, w = intrinsics.height, intrinsics.width
    img = img.reshape(h, s, w, s, 4).mean(dim=(1, 3))
    return img.clamp(0, 1).cpu()
