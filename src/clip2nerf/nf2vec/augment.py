"""Weight-space augmentation of nf2vec's training inputs (issue 13: nf2vec sees only the
demo's 78 training NeRFs, the paper's 31k).

Both augmentations change only what the *encoder* reads; the decoder still distils the clean
NeRF, so the encoder learns to give one embedding to weights that differ in ways that do not
matter (``TrainConfig.weight_noise``, ``TrainConfig.permute_units``):

- ``add_weight_noise``: Gaussian noise on the used rows, scaled to each NeRF's own weight RMS
  (all-zero rows, i.e. layout padding and untrained frequencies, stay zero).
- ``permute_hidden_units``: a random permutation of each hidden layer's units, applied to the
  weights into and out of them (``clip2nerf.nf2vec.layout``): the NeRF computes the same field.
  NeRFs fitted from one shared initialisation keep their units aligned, which an encoder with
  ``EncoderConfig.row_positions`` uses; permuting removes that alignment.
"""

from __future__ import annotations

import torch

from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nf2vec.layout import block_rows


def add_weight_noise(matrices: torch.Tensor, std: float, generator: torch.Generator
                     ) -> torch.Tensor:
    """``matrices`` (batch, rows, hidden) plus noise of ``std`` x each NeRF's RMS weight on its
    non-zero rows."""
    if std <= 0:
        return matrices
    used = (matrices != 0).any(dim=-1, keepdim=True)
    rms = matrices.pow(2).sum(dim=(1, 2), keepdim=True) / (
        used.sum(dim=(1, 2), keepdim=True).clamp(min=1) * matrices.shape[-1])
    noise = torch.randn(matrices.shape, generator=generator).to(matrices.device)
    return matrices + noise * std * rms.sqrt() * used


def permute_hidden_units(matrices: torch.Tensor, config: NerfConfig,
                         generator: torch.Generator) -> torch.Tensor:
    """Each NeRF in ``matrices`` (batch, rows, hidden) with its hidden units randomly permuted
    (one permutation per hidden layer and NeRF); the field it computes is unchanged."""
    blocks = block_rows(config)
    starts = [0]
    for _, padded in blocks:
        starts.append(starts[-1] + padded)
    out = matrices.clone()
    hidden = config.hidden
    for b in range(matrices.shape[0]):
        m = out[b]
        # Hidden layer i's units are the columns of block i; for i < last they are also the
        # rows of block i + 1 (its input weights, transposed). The last hidden layer's units
        # are the columns of the output block.
        for i in range(len(blocks) - 1):
            perm = torch.randperm(hidden, generator=generator).to(m.device)
            lo, hi = starts[i], starts[i + 1]
            m[lo:hi] = m[lo:hi][:, perm]
            if i + 1 < len(blocks) - 1:
                lo2 = starts[i + 1]
                m[lo2:lo2 + hidden] = m[lo2:lo2 + hidden][perm]
            else:
                lo2, hi2 = starts[i + 1], starts[i + 2]
                m[lo2:hi2] = m[lo2:hi2][:, perm]
    return out


def augment_matrices(matrices: torch.Tensor, config: NerfConfig, weight_noise: float,
                     permute_units: bool, generator: torch.Generator) -> torch.Tensor:
    """The encoder's input for one training batch (``matrices`` itself when both are off, and
    then no random numbers are drawn)."""
    if permute_units:
        matrices = permute_hidden_units(matrices, config, generator)
    return add_weight_noise(matrices, weight_noise, generator)


__all__ = ["add_weight_noise", "permute_hidden_units", "augment_matrices"]
