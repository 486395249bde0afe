"""Rendering views of decoded embeddings (and of NeRFs, for comparison) with the NeRF renderer."""

from __future__ import annotations

import numpy as np
import torch

from clip2nerf.camera import default_intrinsics, orbit_cameras
from clip2nerf.nerf.occupancy import OccupancyGrid
from clip2nerf.nerf.render import FieldFn, render_image
from clip2nerf.nf2vec.decoder import ImplicitDecoder

CAMERA_RADIUS = 2.1
"""Orbit radius of nf2vec's views: its training rendering loss (``train._random_rays``) and the
comparison views of decoded embeddings; about the median synth camera distance (NeRFs are
fitted there). Not ``clip2nerf.camera.DEFAULT_ORBIT_RADIUS`` (1.91, thumbnails): trained
nf2vec models depend on this value."""


def view_poses(n_views: int, elevation_deg: float = 25.0) -> np.ndarray:
    """(n_views, 4, 4) orbit cameras around the object (fixed, so renders are comparable)."""
    return orbit_cameras(n_views, radius=CAMERA_RADIUS, elevation_deg=elevation_deg,
                         azimuth0_deg=30.0)


@torch.no_grad()
def decoder_occupancy(decoder: ImplicitDecoder, embedding: torch.Tensor, resolution: int = 32,
                      alpha_step: float = 0.01, threshold: float = 1e-3,
                      chunk: int = 16384) -> OccupancyGrid:
    """An occupancy grid of a decoded field, so rendering it skips its empty space.

    Evaluates the decoder's density at ``resolution^3`` cell centres and keeps cells whose
    opacity over ``alpha_step`` exceeds ``threshold``, dilated by one cell (a thin part can
    fall between centres).
    """
    lo, hi = decoder.nerf.aabb
    aabb = torch.tensor([*lo, *hi], dtype=torch.float32, device=embedding.device)
    grid = OccupancyGrid.full(resolution, aabb)
    centers = grid.cell_centers().reshape(-1, 3)
    cond = decoder.condition(embedding.reshape(1, -1))
    sig = torch.cat([decoder.query(cond, centers[s:s + chunk][None])[1][0]
                     for s in range(0, centers.shape[0], chunk)])
    occ = (1 - torch.exp(-sig * alpha_step)) > threshold
    return OccupancyGrid(occ.reshape((resolution,) * 3), aabb).dilate(1)


@torch.no_grad()
def render_field_views(field_fn: FieldFn, aabb: torch.Tensor, poses: np.ndarray, resolution: int,
                       occupancy: OccupancyGrid | None = None, n_samples: int = 128,
                       device: torch.device | str = "cpu") -> torch.Tensor:
    """Render a field from each pose on a white background.

    Returns:
        (n_views, resolution, resolution, 4) float32 RGBA in [0, 1] on CPU.
    """
    intr = default_intrinsics(resolution)
    occ = occupancy.to(device) if occupancy is not None else None
    return torch.stack([render_image(field_fn, intr, p, aabb.to(device), occ, n_samples=n_samples,
                                     device=device) for p in poses])


@torch.no_grad()
def render_embedding(decoder: ImplicitDecoder, embedding: torch.Tensor, poses: np.ndarray,
                     resolution: int, n_samples: int = 128, grid_resolution: int = 32
                     ) -> torch.Tensor:
    """Views of the radiance field an embedding decodes to.

    Args:
        embedding: (embed_dim,) one embedding (any norm; the decoder normalises it).
    Returns:
        (n_views, resolution, resolution, 4) RGBA in [0, 1].
    """
    occ = decoder_occupancy(decoder, embedding, grid_resolution)
    aabb = decoder.aabb
    return render_field_views(decoder.field(embedding), aabb, poses, resolution, occ, n_samples,
                              device=embedding.device)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR (dB) between two images/batches of RGB(A) in [0, 1] over the RGB channels."""
    mse = float(((a[..., :3] - b[..., :3]) ** 2).mean())
    return float("inf") if mse == 0 else -10.0 * float(np.log10(mse))


def image_grid(rows: list[torch.Tensor], pad: int = 2) -> np.ndarray:
    """Tile rows of images into one uint8 RGB picture (white background, white gaps).

    Args:
        rows: each (n_views, H, W, 3 or 4) in [0, 1]; all the same H, W.
    Returns:
        (H_total, W_total, 3) uint8.
    """
    h, w = rows[0].shape[1:3]
    n = max(r.shape[0] for r in rows)
    canvas = np.ones((len(rows) * (h + pad) + pad, n * (w + pad) + pad, 3), np.float32)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            canvas[pad + i * (h + pad):pad + i * (h + pad) + h,
                   pad + j * (w + pad):pad + j * (w + pad) + w] = img[..., :3].numpy()
    return (canvas.clip(0, 1) * 255 + 0.5).astype(np.uint8)
