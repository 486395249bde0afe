"""The meta-encoder: NeRF weight matrices -> one embedding per NeRF, without rendering."""

from __future__ import annotations

import torch
from torch import nn

from clip2nerf.nf2vec.config import EncoderConfig


class Nf2vecEncoder(nn.Module):
    """Point-wise MLP over the rows of the weight matrix, then a max over rows (nf2vec).

    Each row (``hidden`` numbers, see ``clip2nerf.nf2vec.layout``) goes through
    ``Linear + BatchNorm1d + ReLU`` layers of ``config.widths`` and a final Linear to
    ``config.embed_dim``; the max over rows makes one vector per NeRF. BatchNorm statistics are
    taken over all rows of all NeRFs in the batch.
    """

    def __init__(self, config: EncoderConfig, row_dim: int):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        d = row_dim
        for w in config.widths:
            layers += [nn.Linear(d, w), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
            d = w
        self.rows_mlp = nn.Sequential(*layers)
        self.proj = nn.Linear(d, config.embed_dim)

    def forward(self, matrices: torch.Tensor) -> torch.Tensor:
        """(batch, rows, row_dim) weight matrices -> (batch, embed_dim) raw embeddings."""
        b, r, c = matrices.shape
        h = self.proj(self.rows_mlp(matrices.reshape(b * r, c)))
        return h.reshape(b, r, -1).amax(dim=1)
