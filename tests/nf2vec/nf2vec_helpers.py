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
                         val_resolution=8, max_val_nerfs=2)


def make_field(seed: int, config: NerfConfig | None = None) -> NerfField:
    """A random field whose density is shifted so part of the box is clearly occupied."""
    torch.manual_seed(seed)
    field = NerfField(config or NerfConfig())
    with torch.no_grad():
        for layer in field.layers:
            layer.weight.mul_(1.5)
    return field


def occupancy_of(field: NerfField, resolution: int = 8) -> OccupancyGrid:
    grid = OccupancyGrid.full(resolution, field.aabb)
    with torch.no_grad():
        _, sigma = field(grid.cell_centers().reshape(-1, 3))
    occ = sigma > sigma.median()
    return OccupancyGrid(occ.reshape((resolution,) * 3), field.aabb)
