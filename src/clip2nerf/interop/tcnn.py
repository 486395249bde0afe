"""tiny-cuda-nn's flat parameter vector of a NeRF MLP <-> our ``NerfField`` weights.

What the reference stores (``nerf_weights.pth["mlp_base.params"]``, an nf2vec NeRF built as
``tcnn.NetworkWithInputEncoding(Frequency(24), FullyFusedMLP(64 neurons, 3 hidden layers,
ReLU, no output activation), n_output_dims=4)``), as read in tiny-cuda-nn
``src/fully_fused_mlp.cu`` (``FullyFusedMLP`` constructor, ``set_params``, the forward kernels):

- one flat vector holding every weight matrix, in layer order, each **row-major with shape
  (out, in)**: ``(64, 144)``, then ``n_hidden_layers - 1`` times ``(64, 64)``, then
  ``(16, 64)`` — the output layer is padded to 16 rows (``m_padded_output_width``); the
  encoding has no parameters. No biases. 18 432 numbers for the nf2vec NeRF.
- the padded output rows 4..15 are initialised (Xavier uniform) like every other weight but
  their outputs are discarded, so they never receive a gradient: real files hold non-zero
  values there. They do not change renders; nf2vec's encoder reads them, so we keep them
  (``NerfFile.output_padding``) for embedding parity.
- the encoding's features come in the order ``[dim][frequency][sin, cos]`` with
  ``sin(2^k·π·u_d + {0, π/2})``, ``u`` the point normalised to [0, 1]^3 by the box
  (``include/tiny-cuda-nn/encodings/frequency.h``, ``frequency_encoding``): the order of
  ``clip2nerf.nerf.encoding.frequency_encode``, so the input columns need no permutation.
  When ``3·2·n_freqs`` is not a multiple of 16, tcnn pads the encoding with features equal
  to 1 (an implicit bias); our field has no bias, so such NeRFs are refused unless those
  weight columns are zero.

The matrix nf2vec's encoder reads from this vector is built by
``clip2nerf.nf2vec.layout.tcnn_matrix`` (``EncoderConfig.input_layout = "tcnn"``).
"""

from __future__ import annotations

import torch

from clip2nerf.errors import UserError
from clip2nerf.nerf.config import NerfConfig

TCNN_ALIGNMENT = 16
"""FullyFusedMLP pads its input width and its output width to multiples of this."""


def _pad(n: int, multiple: int = TCNN_ALIGNMENT) -> int:
    return -(-n // multiple) * multiple


def tcnn_matrix_shapes(config: NerfConfig) -> list[tuple[int, int]]:
    """``(rows, cols)`` of each row-major matrix in the flat vector, in order."""
    shapes = [(config.hidden, _pad(config.in_dim))]
    shapes += [(config.hidden, config.hidden)] * (config.n_hidden_layers - 1)
    shapes.append((_pad(config.out_dim), config.hidden))
    return shapes


def tcnn_n_params(config: NerfConfig) -> int:
    """Length of ``mlp_base.params`` for this architecture (18 432 for the nf2vec NeRF)."""
    return sum(r * c for r, c in tcnn_matrix_shapes(config))


def flat_to_state_dict(flat: torch.Tensor, config: NerfConfig, where: str = "mlp_base.params"
                       ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Split tcnn's flat parameters into our field's weights.

    Args:
        flat: (n_params,) any float dtype (half precision is common); converted to float32.
        where: names the source in errors.
    Returns:
        ``(state_dict, output_padding)``: ``layers.{i}.weight`` float32 tensors with shapes
        ``config.layer_shapes()``, and the untrained padded output rows
        ``(pad16(out_dim) - out_dim, hidden)``.
    Raises:
        UserError: wrong length, non-finite values, or non-zero weights on tcnn's constant-1
            input padding (a bias our field cannot hold).
    """
    if flat.dim() != 1 or not flat.is_floating_point():
        raise UserError(f"{where}: expected a 1-D float tensor, got {flat.dtype} "
                        f"{tuple(flat.shape)}")
    need = tcnn_n_params(config)
    if flat.numel() != need:
        raise UserError(f"{where}: {flat.numel()} parameters, but a tiny-cuda-nn "
                        f"FullyFusedMLP for {config.describe()} has {need}; this is not an "
                        "nf2vec NeRF of that architecture")
    flat = flat.float()
    if not torch.isfinite(flat).all():
        raise UserError(f"{where}: contains NaN or infinite weights")
    mats = []
    start = 0
    for rows, cols in tcnn_matrix_shapes(config):
        mats.append(flat[start:start + rows * cols].reshape(rows, cols))
        start += rows * cols
    first = mats[0]
    if first.shape[1] > config.in_dim and first[:, config.in_dim:].abs().max() > 0:
        raise UserError(f"{where}: non-zero weights on tiny-cuda-nn's input padding "
                        "(constant-1 features, a bias); clip2nerf's NeRF field has no bias")
    mats[0] = first[:, :config.in_dim]
    out = mats[-1]
    mats[-1] = out[:config.out_dim]
    sd = {f"layers.{i}.weight": m.contiguous().clone() for i, m in enumerate(mats)}
    return sd, out[config.out_dim:].contiguous().clone()


def state_dict_to_flat(state_dict: dict[str, torch.Tensor], config: NerfConfig,
                       output_padding: torch.Tensor | None = None,
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Inverse of ``flat_to_state_dict``: our weights as tcnn's flat vector.

    Args:
        output_padding: rows written into the padded output block (zeros when None).
        dtype: of the result (tcnn uses float16 for FullyFusedMLP parameters).
    """
    mats = [state_dict[f"layers.{i}.weight"].detach().float().cpu()
            for i in range(len(config.layer_shapes()))]
    first = mats[0]
    in_pad = _pad(config.in_dim) - config.in_dim
    if in_pad:
        first = torch.cat((first, first.new_zeros(first.shape[0], in_pad)), dim=1)
    n_pad = _pad(config.out_dim) - config.out_dim
    pad = (torch.zeros(n_pad, config.hidden) if output_padding is None
           else output_padding.detach().float().cpu())
    if tuple(pad.shape) != (n_pad, config.hidden):
        raise ValueError(f"output_padding must be ({n_pad}, {config.hidden}), got "
                         f"{tuple(pad.shape)}")
    mats = [first, *mats[1:-1], torch.cat((mats[-1], pad), dim=0)]
    return torch.cat([m.reshape(-1) for m in mats]).to(dtype)


__all__ = ["TCNN_ALIGNMENT", "flat_to_state_dict", "state_dict_to_flat",
           "tcnn_matrix_shapes", "tcnn_n_params"]
