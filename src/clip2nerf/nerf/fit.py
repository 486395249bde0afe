"""Fit one NeRF to one object's views: rays, visual-hull occupancy grid, Adam, held-out PSNR.

Held-out views (every k-th view, ``FitConfig.holdout_views`` of them) are never trained on;
fit quality is their PSNR on the whole image and on object pixels (alpha > 0), both after
compositing on the same background (a white background alone already scores ~14 dB on the
whole image, so the object-pixel figure is the honest one).

NeRFs are fitted at ``FitConfig.image_size`` (64 px): views larger than that (the synth
presets' 128 px, which the VLM needs) are box-downsampled by an integer factor first
(``fit_downsample_factor``, ``downsample_views``); the fit and its PSNR are at that size.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from clip2nerf.camera import Intrinsics, rays_from_camera, unit_pixel_rays
from clip2nerf.data.dataset import DatasetError, ObjectRecord
from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.field import NerfField
from clip2nerf.nerf.occupancy import (
    OccupancyGrid,
    footprint_radius_px,
    grid_from_views,
    occupied_ray_bounds,
)
from clip2nerf.nerf.render import render_image, render_rays, step_size_for


@dataclass
class FitConfig:
    """How to fit one NeRF (the architecture is ``NerfConfig``)."""

    steps: int = 900
    """Optimisation steps per object (measured: 1200 gained ~0.1 dB held-out PSNR for 1/3
    more CPU time)."""
    rays_per_step: int = 512
    """Rays per step, drawn from the training rays that cross the occupancy grid."""
    lr: float = 1e-2
    """Adam learning rate at the start."""
    lr_final: float = 1e-3
    """Learning rate at the last step (exponential decay)."""
    n_samples: int = 96
    """Samples along the box diagonal (shorter chords get fewer). Measured on 13 small-preset
    objects: 96 costs 9.3 CPU-s per object against 12.2 for 128, for 0.35 dB less held-out
    PSNR (28.3 vs 28.65 dB)."""
    grid_resolution: int = 64
    """Occupancy grid cells per axis."""
    use_depth: bool = True
    """Tighten the visual hull with the depth maps when the dataset has them."""
    interior_margin_cells: float = 3.0
    """With depth maps, empty cells hidden this many cells behind the surface in every view
    (the grid becomes a shell around the visible surface); negative disables. (Depth is not
    used to carve free space in front of surfaces: see ``grid_from_views``.)"""
    depth_cutoff_cells: float = 2.0
    """With depth maps, training rays of fully opaque pixels stop this many grid cells behind
    the farthest surface seen in their 3x3 pixel neighbourhood (samples there are hidden
    behind an opaque surface and only cost time); negative disables."""
    refine_every: int = 50
    """Steps between occupancy refinements from the learned density (0: never)."""
    refine_after: int = 100
    """First step at which the grid is refined from the learned density."""
    refine_alpha: float = 0.01
    """A cell stays occupied while ``1 - exp(-sigma · step)`` exceeds this somewhere in it."""
    pixel_jitter: bool = True
    """Train on random points inside each pixel (the views are anti-aliased) rather than
    its centre; evaluation renders pixel centres."""
    max_frequencies: int | None = 8
    """Train only the lowest this-many of the architecture's frequencies (None: all); the
    input weights of the higher ones stay zero. With 24 frequencies on the unit box, k >= 8
    is finer than a pixel of a 64-px view: such features only let the MLP memorise the
    training rays (worse held-out PSNR) and cost time."""
    opacity_weight: float = 0.1
    """Weight of the loss between rendered opacity and the views' alpha."""
    eval_supersample: int = 2
    """Rays per pixel side when rendering held-out views (they are anti-aliased renders)."""
    holdout_views: int = 4
    """Views held out for PSNR (evenly spaced); 0 trains on all and skips the evaluation."""
    bg_color: float = 1.0
    """Background grey level used to composite views and renders."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """Compute precision of the MLP during training (bf16 via autocast)."""
    seed: int = 0
    """Seed of the weight init and ray sampling (fits are reproducible on one device)."""
    image_size: int = 64
    """View side in pixels to fit at, at least: larger views are box-downsampled by the largest
    integer factor that divides their width and height and keeps the shorter side at least
    this (128 px -> 64 px; ShapeNetRender's 224 px -> 112 px; pass 224 to fit those as they
    are); views at or below it are used as they are. Colours are averaged with premultiplied
    alpha (the same pixels as rendering at this size with 2x2 supersampling, for the synth
    presets' 128 px views), the intrinsics scaled to match, depth maps keep each block's
    farthest surface (``downsample_views``). Training rays, the occupancy grid and the
    held-out PSNR are all at the fitted size (``FitResult.stats['fit_resolution']``)."""


@dataclass
class FitResult:
    """A fitted NeRF and how well it fits."""

    field: NerfField
    occupancy: OccupancyGrid
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class ObjectViews:
    """One object's views as tensors: ``images`` (V, H, W, 3) composited on the background,
    ``alphas`` (V, H, W), ``poses`` (V, 4, 4), ``depths`` (V, H, W) or None."""

    intrinsics: Intrinsics
    images: torch.Tensor
    alphas: torch.Tensor
    poses: torch.Tensor
    depths: torch.Tensor | None


def fit_downsample_factor(width: int, height: int, image_size: int) -> int:
    """The box-downsampling factor ``k`` for fitting ``width`` x ``height`` views at
    ``FitConfig.image_size``: the largest integer dividing both sides with
    ``min(width, height) / k >= image_size``; 1 (views used as they are) when there is none."""
    for k in range(min(width, height) // max(int(image_size), 1), 1, -1):
        if width % k == 0 and height % k == 0:
            return k
    return 1


def downsample_views(views: ObjectViews, k: int) -> ObjectViews:
    """``views`` box-downsampled by the integer factor ``k`` (sides must be multiples of it).

    - Colour: the mean of each k x k block of the composited images, which is compositing the
      premultiplied-alpha mean (``sum(a·rgb) / k²``, alpha the mean coverage): the pixel an
      area-sampling (supersampled) render at the smaller size would give.
    - Intrinsics: focal lengths and principal point divided by ``k``: a coarse pixel centre
      ``u + 0.5`` is the centre of its block, ``k·(u + 0.5)`` in the fine image.
    - Depth: each block's farthest valid depth (0 only where no sample of the block hit).
      Fitting reads depth only in fully opaque pixels, as an upper bound of the surface a ray
      through any point of the pixel meets: hiding grid cells more than a margin behind it
      (``grid_from_views``' interior margin) and stopping training rays behind it
      (``FitConfig.depth_cutoff_cells``). The block's farthest depth keeps that bound; its
      nearest (or the centre's) would hide surface seen through the rest of the pixel at a
      depth step. (``grid_from_views(carve_free_space=True)``, unused by fitting, would need
      the nearest instead.)
    """
    import torch.nn.functional as F

    if k <= 1:
        return views
    _, h, w = views.alphas.shape
    if h % k or w % k:
        raise ValueError(f"views of {w}x{h} px cannot be box-downsampled by {k}")
    images = F.avg_pool2d(views.images.permute(0, 3, 1, 2), k).permute(0, 2, 3, 1)
    alphas = F.avg_pool2d(views.alphas[:, None], k)[:, 0]
    depths = None
    if views.depths is not None:
        depths = F.max_pool2d(views.depths[:, None], k)[:, 0]
    intr = views.intrinsics
    small = Intrinsics(w // k, h // k, intr.fx / k, intr.fy / k, intr.cx / k, intr.cy / k)
    return ObjectViews(small, images.contiguous(), alphas.contiguous(), views.poses, depths)


def load_object_views(record: ObjectRecord, bg_color: float, use_depth: bool,
                      image_size: int | None = None) -> ObjectViews:
    """Read all views of an object (validated by the dataset reader) as float tensors, box-
    downsampled to ``image_size`` as ``FitConfig.image_size`` says (None: as they are)."""
    rgba = torch.from_numpy(record.load_views()).float() / 255.0
    alphas = rgba[..., 3]
    images = rgba[..., :3] * alphas[..., None] + bg_color * (1.0 - alphas[..., None])
    depths = None
    if use_depth and record.depth_scale is not None and all(f.depth_path for f in record.frames):
        depths = torch.from_numpy(record.load_depths())
        if not torch.isfinite(depths).all() or (depths < 0).any():
            raise DatasetError(f"object {record.object_id}: depth maps contain negative or "
                               "non-finite values")
    views = ObjectViews(record.intrinsics, images, alphas, torch.from_numpy(record.poses()),
                        depths)
    if image_size is None:
        return views
    intr = record.intrinsics
    return downsample_views(views, fit_downsample_factor(intr.width, intr.height, image_size))


def split_views(n_views: int, holdout: int) -> tuple[list[int], list[int]]:
    """Evenly spaced held-out view indices and the rest: ``(train, heldout)``."""
    if holdout <= 0 or n_views < 2:
        return list(range(n_views)), []
    holdout = min(holdout, n_views // 2)
    held = sorted({int(round(i * n_views / holdout + n_views / (2 * holdout))) % n_views
                   for i in range(holdout)})
    return [i for i in range(n_views) if i not in held], held


def check_holdout(holdout: int, n_views: int, object_id: str) -> None:
    """Refuse holding out as many views as an object has, or more: nothing would be left to
    train on (``split_views`` then holds out at most half of the views; the manifest's
    ``heldout_views`` says how many were)."""
    from clip2nerf.errors import UserError

    if holdout > 0 and holdout >= n_views:
        raise UserError(f"--holdout {holdout}: object {object_id} has only {n_views} views, so "
                        f"none would be left to train on; hold out at most {max(n_views // 2, 0)} "
                        "(half of them), or 0 to skip the evaluation")


def psnr(mse: float) -> float:
    return float("inf") if mse <= 0 else -10.0 * math.log10(mse)


@torch.no_grad()
def evaluate_views(nerf_field, occupancy: OccupancyGrid | None, views: ObjectViews,
                   indices: list[int], n_samples: int, bg_color: float,
                   device: torch.device, supersample: int = 1) -> dict[str, float]:
    """PSNR of renders against views ``indices``: whole image and object pixels (alpha > 0)."""
    se_all = se_obj = 0.0
    n_all = n_obj = 0
    aabb = occupancy.aabb if occupancy is not None else nerf_field.aabb
    for i in indices:
        img = render_image(nerf_field, views.intrinsics, views.poses[i], aabb, occupancy,
                           n_samples=n_samples, bg_color=bg_color, device=device,
                           supersample=supersample)
        err = (img[..., :3] - views.images[i]).pow(2).sum(-1)  # (H, W)
        obj = views.alphas[i] > 0
        se_all += float(err.sum())
        n_all += err.numel() * 3
        se_obj += float(err[obj].sum())
        n_obj += int(obj.sum()) * 3
    return {"psnr": psnr(se_all / max(n_all, 1)),
            "psnr_object": psnr(se_obj / n_obj) if n_obj else float("nan")}


def _near_silhouette(intrinsics: Intrinsics, alphas: torch.Tensor, poses: torch.Tensor,
                     hull: OccupancyGrid) -> torch.Tensor:
    """(V·H·W,) bool: pixels whose rays may cross the visual hull, a cheap superset.

    A hull cell survives only with foreground within its footprint radius ``r`` of its
    centre's projection in every view that sees it, so its whole projection lies within
    ``2r + 1`` pixels of foreground; views that do not see a cell's centre may still see it
    at the image border, so a border band of that width is included too.
    """
    import torch.nn.functional as F

    # Footprints are largest for the nearest cells: bound their depth along the viewing axis
    # by the camera-box distance, times 0.8 for points off the axis (cos 37 deg).
    lo, hi = hull.aabb[:3], hull.aabb[3:]
    eye = poses[:, :3, 3]
    cam_dist = 0.8 * float((eye - eye.clamp(lo, hi)).norm(dim=-1).min())
    if cam_dist <= 0:  # a camera inside the box: no cheap bound
        return torch.ones(alphas.numel(), dtype=torch.bool)
    half_diag = float((hull.aabb[3:] - hull.aabb[:3]).norm()) / hull.resolution / 2
    pad = 2 * footprint_radius_px(intrinsics, torch.tensor([cam_dist]), half_diag) + 1
    fg = (alphas > 0).float()[:, None]
    near = F.max_pool2d(fg, 2 * pad + 1, stride=1, padding=pad)[:, 0] > 0
    near[:, :pad] = near[:, -pad:] = True
    near[:, :, :pad] = near[:, :, -pad:] = True
    return near.reshape(-1)


def _behind_surface_bounds(intrinsics: Intrinsics, alphas: torch.Tensor, depths: torch.Tensor,
                           margin: float) -> torch.Tensor:
    """(V, H, W) ray distance beyond which a training ray only meets hidden space.

    For pixels whose 3x3 neighbourhood is fully opaque (alpha >= 0.99, so a jittered ray
    inside the pixel hits a surface no farther than the neighbourhood's farthest depth):
    that depth along the ray plus ``margin``; +inf elsewhere (silhouette edges, background).
    ``depths`` are along the viewing axis (dataset convention); they become ray distances by
    the pixel-centre direction's cosine to the axis.
    """
    import torch.nn.functional as F

    from clip2nerf.camera import camera_directions

    opaque = (alphas >= 0.99) & (depths > 0)
    d_full = torch.where(opaque, depths, torch.full_like(depths, float("inf")))
    # Padding counts as background (inf): border pixels may see past the image edge.
    d_pad = F.pad(d_full[:, None], (1, 1, 1, 1), value=float("inf"))
    d_far = F.max_pool2d(d_pad, 3, stride=1)[:, 0]
    cos = -camera_directions(intrinsics)[..., 2]  # (H, W), > 0 for a forward camera
    return d_far / cos + margin


@torch.no_grad()
def _refine_grid(nerf_field: NerfField, hull: OccupancyGrid, density: torch.Tensor,
                 step: float, alpha_thresh: float) -> OccupancyGrid:
    """Keep hull cells whose (decayed running max) density makes alpha > ``alpha_thresh``."""
    r = hull.resolution
    cell = (hull.aabb[3:] - hull.aabb[:3]) / r
    occ = hull.binary.reshape(-1)
    centers = hull.cell_centers().reshape(-1, 3)[occ]
    pts = centers + (torch.rand_like(centers) - 0.5) * cell
    _, sig = nerf_field(pts)
    flat = density.view(-1)
    flat[occ] = torch.maximum(flat[occ] * 0.9, sig.float())
    alpha = 1.0 - torch.exp(-flat * step)
    # Never below the mean over hull cells (as nerfacc does): a field that is still nearly
    # empty early in training must not empty the whole grid.
    thresh = min(alpha_thresh, float(alpha[occ].mean())) if occ.any() else alpha_thresh
    keep = alpha > thresh
    return OccupancyGrid((keep & occ).reshape(r, r, r), hull.aabb)


def fit_object(record: ObjectRecord, nerf_config: NerfConfig | None = None,
               fit_config: FitConfig | None = None, device: torch.device | str = "cpu",
               views: ObjectViews | None = None) -> FitResult:
    """Fit a NeRF to one object's views and measure it on held-out views. The fit seeds
    torch's RNG with ``FitConfig.seed`` inside a fork, so the caller's RNG state is unchanged."""
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        return _fit_object(record, nerf_config, fit_config, device, views)


def _fit_object(record: ObjectRecord, nerf_config: NerfConfig | None,
                fit_config: FitConfig | None, device: torch.device,
                views: ObjectViews | None) -> FitResult:
    nerf_config = nerf_config or NerfConfig(aabb=record.aabb)
    cfg = fit_config or FitConfig()
    device = torch.device(device)
    t0 = time.perf_counter()
    c0 = time.process_time()  # CPU time of this process: a load-independent cost figure
    check_holdout(cfg.holdout_views, record.n_views, record.object_id)
    views = views or load_object_views(record, cfg.bg_color, cfg.use_depth, cfg.image_size)
    train_idx, held_idx = split_views(len(views.poses), cfg.holdout_views)
    lo, hi = nerf_config.aabb
    aabb = torch.tensor([*lo, *hi], dtype=torch.float32)
    cell = float((aabb[3:] - aabb[:3]).max()) / cfg.grid_resolution
    interior = cfg.interior_margin_cells * cell if cfg.interior_margin_cells >= 0 else None
    hull = grid_from_views(views.intrinsics, views.poses[train_idx], views.alphas[train_idx],
                           aabb, cfg.grid_resolution,
                           views.depths[train_idx] if views.depths is not None else None,
                           interior_margin=interior)
    # On the host, like the views it reads (before the hull moves to a GPU).
    near = _near_silhouette(views.intrinsics, views.alphas[train_idx],
                            views.poses[train_idx], hull).to(device)
    hull = hull.to(device)
    rays = _training_rays(record.object_id, views, train_idx, hull, near, cell, cfg, device)
    nerf_field, grid, loss, n_points = _optimise(views.intrinsics, rays, hull, aabb, nerf_config,
                                                 cfg, device)
    train_seconds = time.perf_counter() - t0
    nerf_field.limit_frequencies(None)  # same function (zero columns); the saved layout
    nerf_field.eval()
    stats: dict[str, Any] = {
        "steps": cfg.steps, "fit_seconds": round(train_seconds, 3),
        "fit_cpu_seconds": round(time.process_time() - c0, 3),
        "train_views": len(train_idx), "heldout_views": held_idx,
        "final_loss": float(loss.detach()) if cfg.steps else float("nan"),
        "points_per_second": round(n_points / max(train_seconds, 1e-9)),
        "grid_occupied": round(grid.occupied_fraction(), 5),
        "hull_occupied": round(hull.occupied_fraction(), 5),
        "fit_resolution": [views.intrinsics.width, views.intrinsics.height],
    }
    if held_idx:
        t1, c1 = time.perf_counter(), time.process_time()
        stats.update(evaluate_views(nerf_field, grid, views, held_idx, cfg.n_samples,
                                    cfg.bg_color, device, cfg.eval_supersample))
        stats["eval_seconds"] = round(time.perf_counter() - t1, 3)
        stats["eval_cpu_seconds"] = round(time.process_time() - c1, 3)
    return FitResult(nerf_field.cpu(), grid.to("cpu"), stats)


@dataclass
class _TrainingRays:
    """The training views' rays that cross the visual hull, with their targets, on the fit's
    device: ``origins``, ``directions`` (n, 3) through pixel centres, ``rgb`` (n, 3), ``alpha``
    (n,), ray bounds ``t_min``, ``t_max`` (n,); each ray's pixel as ``view`` (n,) long and
    ``row``, ``col`` (n,) float, for rays jittered inside it; ``poses`` (V_train, 4, 4)."""

    origins: torch.Tensor
    directions: torch.Tensor
    rgb: torch.Tensor
    alpha: torch.Tensor
    t_min: torch.Tensor
    t_max: torch.Tensor
    view: torch.Tensor
    row: torch.Tensor
    col: torch.Tensor
    poses: torch.Tensor


def _training_rays(object_id: str, views: ObjectViews, train_idx: list[int],
                   hull: OccupancyGrid, near: torch.Tensor, cell: float, cfg: FitConfig,
                   device: torch.device) -> _TrainingRays:
    """Every training pixel's ray, less those that cross no occupied cell (they render the
    background exactly: nothing to learn); ``near``: ``_near_silhouette`` of these views."""
    rays_o, rays_d = rays_from_camera(views.intrinsics, views.poses[train_idx], device=device)
    target = views.images[train_idx].reshape(-1, 3).to(device)
    target_a = views.alphas[train_idx].reshape(-1).to(device)
    t_min, t_max, crossing = occupied_ray_bounds(hull, rays_o[near], rays_d[near])
    t_min, t_max, crossing = (torch.zeros_like(target_a).masked_scatter(near, x)
                              for x in (t_min, t_max, crossing.float()))
    crossing = crossing > 0
    fg = target_a > 0.5
    n_bad = int((~crossing & fg).sum())
    if n_bad > 0.02 * max(int(fg.sum()), 1):
        # The hull must contain the surface seen by foreground pixels (a few centre rays of
        # anti-aliased edge pixels may miss thin parts); if many miss, the cameras and views
        # disagree (wrong convention or intrinsics) and fitting would be meaningless.
        raise DatasetError(f"object {object_id}: {n_bad} of {int(fg.sum())} foreground "
                           "pixels see no occupied space: cameras and views do not agree")
    keep = torch.nonzero(crossing).squeeze(-1)
    t_min, t_max = t_min[keep], t_max[keep]
    if views.depths is not None and cfg.depth_cutoff_cells >= 0:
        t_back = _behind_surface_bounds(views.intrinsics, views.alphas[train_idx],
                                        views.depths[train_idx],
                                        cfg.depth_cutoff_cells * cell).reshape(-1)
        t_max = torch.maximum(torch.minimum(t_max, t_back.to(device)[keep]), t_min)
    hw = views.intrinsics.width * views.intrinsics.height
    return _TrainingRays(rays_o[keep], rays_d[keep], target[keep], target_a[keep], t_min, t_max,
                         view=(keep // hw).to(device),
                         row=((keep % hw) // views.intrinsics.width).to(device).float(),
                         col=((keep % hw) % views.intrinsics.width).to(device).float(),
                         poses=views.poses[train_idx].to(device))


def _optimise(intrinsics: Intrinsics, rays: _TrainingRays, hull: OccupancyGrid,
              aabb: torch.Tensor, nerf_config: NerfConfig, cfg: FitConfig,
              device: torch.device) -> tuple[NerfField, OccupancyGrid, torch.Tensor, int]:
    """``cfg.steps`` Adam steps on random batches of ``rays``, the occupancy grid refined
    from the hull as it goes. Seeds torch's RNG with ``cfg.seed`` (the caller forks it).

    Returns the field, the last grid, the last loss and the number of points sampled.
    """
    n_rays = rays.rgb.shape[0]
    step_len = step_size_for(aabb, cfg.n_samples)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    nerf_field = NerfField(nerf_config).to(device)
    nerf_field.limit_frequencies(cfg.max_frequencies)
    # foreach: one multi-tensor update instead of a Python loop over the weights (torch
    # defaults to the loop on CPU); bit-identical weights (checked on small objects).
    opt = torch.optim.Adam(nerf_field.parameters(), lr=cfg.lr, eps=1e-15, foreach=True)
    gamma = (cfg.lr_final / cfg.lr) ** (1.0 / max(cfg.steps, 1))
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    grid = hull
    density = torch.zeros((hull.resolution,) * 3, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=cfg.precision == "bf16")
    n_points = 0
    loss = torch.tensor(float("nan"))  # with no steps
    for step in range(cfg.steps):
        sel = torch.randint(0, n_rays, (min(cfg.rays_per_step, n_rays),),
                            generator=gen).to(device)
        b_o, b_d = _batch_rays(intrinsics, rays, sel, cfg.pixel_jitter, device)
        with autocast:
            out = render_rays(nerf_field, b_o, b_d, aabb.to(device), grid,
                              n_samples=cfg.n_samples, bg_color=cfg.bg_color,
                              early_stop_eps=0.0, stratified=True, chunk_samples=None,
                              t_min=rays.t_min[sel], t_max=rays.t_max[sel])
        loss = torch.mean((out["rgb"] - rays.rgb[sel]) ** 2)
        if cfg.opacity_weight > 0:
            loss = loss + cfg.opacity_weight * torch.mean((out["opacity"] - rays.alpha[sel]) ** 2)
        if not loss.requires_grad:  # no ray of this batch met an occupied cell
            continue
        if not torch.isfinite(loss):  # never let one bad batch poison the weights
            continue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        n_points += int(out["n_points"])
        if cfg.refine_every and step + 1 >= cfg.refine_after and \
                (step + 1 - cfg.refine_after) % cfg.refine_every == 0:
            grid = _refine_grid(nerf_field, hull, density, step_len, cfg.refine_alpha)
    return nerf_field, grid, loss, n_points


def _batch_rays(intrinsics: Intrinsics, rays: _TrainingRays, sel: torch.Tensor, jitter: bool,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and directions of the rays ``sel``: through a random point of each ray's
    pixel with ``jitter``, else the stored pixel-centre rays."""
    if not jitter:
        return rays.origins[sel], rays.directions[sel]
    return unit_pixel_rays(intrinsics, rays.poses, rays.view[sel],
                           rays.col[sel] + torch.rand(sel.shape, device=device),
                           rays.row[sel] + torch.rand(sel.shape, device=device))
