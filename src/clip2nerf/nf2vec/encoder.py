"""The meta-encoder: NeRF weight matrices -> one embedding per NeRF, without rendering."""

from __future__ import annotations

import torch
from torch import nn

from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nf2vec.config import EncoderConfig
from clip2nerf.nf2vec.layout import tcnn_matrix
from clip2nerf.utils.cpu_linear import linear


class Nf2vecEncoder(nn.Module):
    """Point-wise MLP over the rows of the weight matrix, then a max over rows (nf2vec).

    Each row (``hidden`` numbers, see ``clip2nerf.nf2vec.layout``) goes through
    ``Linear + BatchNorm1d + ReLU`` layers of ``config.widths`` and a final Linear to
    ``config.embed_dim``; the max over rows makes one vector per NeRF. BatchNorm statistics are
    taken over all rows of all NeRFs in the batch. ``config.row_positions`` adds a learned
    vector per row position to the first layer's output; ``config.skip_zero_rows`` keeps
    all-zero rows out of the max; ``config.project_after_max`` moves the final Linear after the
    max; ``config.output_layer_path`` adds a Linear of the flattened ``output_rows`` (the NeRF's
    output layer) to the result.
    """

    def __init__(self, config: EncoderConfig, row_dim: int, n_rows: int,
                 output_rows: slice | None = None, nerf: NerfConfig | None = None):
        super().__init__()
        self.config = config
        self.nerf = nerf
        if config.input_layout == "tcnn":
            if nerf is None:
                raise ValueError("input_layout 'tcnn' needs the NeRF architecture")
            if config.row_positions or config.output_layer_path:
                raise ValueError("input_layout 'tcnn' does not combine with row_positions or "
                                 "output_layer_path (they index rows of the units layout)")
            n_rows = tcnn_matrix(torch.zeros(n_rows, row_dim), nerf).shape[0]
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
        self.output_rows = output_rows
        self.output_layer = None
        if config.output_layer_path:
            if output_rows is None:
                raise ValueError("output_layer_path needs the output layer's rows")
            n_out = len(range(n_rows)[output_rows])
            self.output_layer = nn.Linear(n_out * row_dim, config.embed_dim)

    def _rows_inference(self, x: torch.Tensor, position: torch.Tensor | None, b: int, r: int
                        ) -> torch.Tensor:
        """``rows_mlp`` in eval mode with each BatchNorm folded into the Linear before it.

        Same result as the modules (up to float rounding; a test pins it): BatchNorm with
        running statistics is an affine map per channel, ``BN(h) = h * s + t``, so
        ``BN(x W^T + c + p) = x (s W)^T + (c s + t) + p s``. Folding saves a full pass over the
        activations per layer: a third of the encoder's time at inference on CPU.
        """
        mods = list(self.rows_mlp)
        h = x
        for i in range(0, len(mods), 3):
            lin, bn = mods[i], mods[i + 1]
            s = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
            t = bn.bias - bn.running_mean * s
            bias = lin.bias * s + t
            weight = lin.weight * s[:, None]
            if i == 0 and position is not None:
                h = linear(h, weight, bias)
                h.view(b, r, -1).add_(position * s)  # in place: h is linear's fresh output
                h = torch.relu_(h)
            else:  # oneDNN fuses the ReLU (clip2nerf.utils.cpu_linear)
                h = linear(h, weight, bias, relu=True)
        return h

    def forward(self, matrices: torch.Tensor) -> torch.Tensor:
        """(batch, rows, row_dim) weight matrices -> (batch, embed_dim) raw embeddings."""
        if self.config.input_layout == "tcnn":
            matrices = tcnn_matrix(matrices, self.nerf)
        head = (None if self.output_layer is None else
                self.output_layer(matrices[:, self.output_rows].flatten(1)))
        position = self.row_position
        zero = None
        if self.config.skip_zero_rows:
            # |x| max == 0 <=> all x == 0 (-0.0 too; NaN is not zero either way), in one pass
            # without a full-size bool tensor: ~6x cheaper than (matrices == 0).all(-1).
            zero = matrices.abs().amax(dim=-1, keepdim=True) == 0
            # A NeRF whose rows are all zero keeps them (its embedding stays finite).
            zero &= ~zero.all(dim=1, keepdim=True)
            if not self.training:
                # Rows zero in every NeRF of the batch (padding, untrained frequencies: about
                # a third of them) cannot change the result: skip their compute. (In training
                # they still count in BatchNorm's batch statistics.)
                used = ~zero.all(dim=0).squeeze(-1)
                matrices, zero = matrices[:, used], zero[:, used]
                position = None if position is None else position[used]
        b, r, c = matrices.shape
        x = matrices.reshape(b * r, c)
        if not self.training:
            h = self._rows_inference(x, position, b, r)
        elif position is None:
            h = self.rows_mlp(x)
        else:
            h = self.rows_mlp[0](x).reshape(b, r, -1) + position
            h = self.rows_mlp[1:](h.reshape(b * r, -1))
        if not self.config.project_after_max:
            h = self.proj(h)
        h = h.reshape(b, r, -1)
        if zero is not None and bool(zero.any()):  # usually none left after the skip above
            h = h.masked_fill(zero, float("-inf"))
        h = h.amax(dim=1)
        if self.config.project_after_max:
            h = self.proj(h)
        return h if head is None else h + head
