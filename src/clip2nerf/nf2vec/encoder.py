"""The meta-encoder: NeRF weight matrices -> one embedding per NeRF, without rendering."""

from __future__ import annotations

import torch
from torch import nn

from clip2nerf.nf2vec.config import EncoderConfig

CENTER_MOMENTUM = 0.05
"""Update rate of the running embedding centre (``EncoderConfig.center``)."""


class Nf2vecEncoder(nn.Module):
    """Point-wise MLP over the rows of the weight matrix, then a max over rows (nf2vec).

    Each row (``hidden`` numbers, see ``clip2nerf.nf2vec.layout``) goes through
    ``Linear + BatchNorm1d + ReLU`` layers of ``config.widths`` and a final Linear to
    ``config.embed_dim``; the max over rows makes one vector per NeRF. BatchNorm statistics are
    taken over all rows of all NeRFs in the batch. ``config.row_positions`` adds a learned
    vector per row position to the first layer's output; ``config.skip_zero_rows`` keeps
    all-zero rows out of the max; ``config.center`` subtracts a running mean of the output.
    """

    def __init__(self, config: EncoderConfig, row_dim: int, n_rows: int):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        d = row_dim
        for w in config.widths:
            layers += [nn.Linear(d, w), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
            d = w
        self.rows_mlp = nn.Sequential(*layers)
        self.proj = nn.Linear(d, config.embed_dim)
        # Random, not zero, at the start: each row then starts with its own features (a
        # random projection of the flattened weights), which keeps NeRFs apart from step 0.
        self.row_position = (nn.Parameter(torch.randn(n_rows, config.widths[0]))
                             if config.row_positions else None)
        if config.center:
            self.register_buffer("center", torch.zeros(config.embed_dim))
            self.register_buffer("center_updates", torch.zeros((), dtype=torch.long))
        else:
            self.center = None

    def forward(self, matrices: torch.Tensor) -> torch.Tensor:
        """(batch, rows, row_dim) weight matrices -> (batch, embed_dim) raw embeddings."""
        b, r, c = matrices.shape
        x = matrices.reshape(b * r, c)
        if self.row_position is None:
            h = self.rows_mlp(x)
        else:
            h = self.rows_mlp[0](x).reshape(b, r, -1) + self.row_position
            h = self.rows_mlp[1:](h.reshape(b * r, -1))
        h = self.proj(h).reshape(b, r, -1)
        if self.config.skip_zero_rows:
            zero = (matrices == 0).all(dim=-1, keepdim=True)
            # A NeRF whose rows are all zero keeps them (its embedding stays finite).
            zero &= ~zero.all(dim=1, keepdim=True)
            h = h.masked_fill(zero, float("-inf"))
        out = h.amax(dim=1)
        if self.center is None:
            return out
        if self.training:
            with torch.no_grad():
                # The first batch sets the centre; later ones move it slowly, so the decoder
                # sees (nearly) the same centred embeddings in training as after it.
                rate = 1.0 if int(self.center_updates) == 0 else CENTER_MOMENTUM
                self.center.lerp_(out.detach().mean(dim=0), rate)
                self.center_updates += 1
        return out - self.center
