"""Helpers of the nf2vec tests: tiny configs and random NeRF fields."""

from __future__ import annotations

import torch

from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.field import NerfField
from clip2nerf.nerf.occupancy import OccupancyGrid
from clip2nerf.nf2vec.config import DecoderConfig, EncoderConfig, Nf2vecConfig, TrainConfig

TINY_MODEL = Nf2vecConfig(name="tiny", encoder=EncoderConfig(widths=(32, 32), embed_dim=48),
                          decoder=DecoderConfig(hidden=32, n_freqs=3))
TINY_TRAIN = TrainConfig(epochs=4, batch_size=3, n_points=256, lr=3e-3, val_views=1,
                         val_resolution=8, max_val_nerfs=2, val_grid_resolution=8)


def make_field(seed: int, config: NerfConfig | None = None, max_freq: int = 3) -> NerfField:
    """A random smooth field (only the ``max_freq`` lowest frequencies feed it) with densities
    spread out so part of the box is clearly occupied and part clearly empty."""
    torch.manual_seed(seed)
    field = NerfField(config or NerfConfig())
    f = field.config.n_freqs
    high = torch.tensor([(i // 2) % f >= max_freq for i in range(field.config.in_dim)])
    with torch.no_grad():
        field.layers[0].weight[:, high] = 0.0
        field.layers[0].weight.mul_(3.0)
        field.layers[-1].weight[3].mul_(80.0)
        field.layers[-1].weight[:3].mul_(30.0)
    return field


def occupancy_of(field: NerfField, resolution: int = 8) -> OccupancyGrid:
    grid = OccupancyGrid.full(resolution, field.aabb)
    with torch.no_grad():
        _, sigma = field(grid.cell_centers().reshape(-1, 3))
    occ = sigma > sigma.median()
    return OccupancyGrid(occ.reshape((resolution,) * 3), field.aabb)
