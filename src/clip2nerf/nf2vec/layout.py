"""The weight-matrix layout: a NeRF MLP as one ``(rows, hidden)`` matrix (a frozen file format).

nf2vec's encoder reads a NeRF's weights as a set of rows of ``hidden`` (64) numbers. The layout,
for a bias-free MLP with weights ``W_0 (hidden, in_dim)``, ``W_1 .. W_{L-1} (hidden, hidden)``,
``W_L (out_dim, hidden)`` (``clip2nerf.nerf.field.NerfField`` state-dict order)::

    rows [0, pad16(in_dim))            W_0ᵀ   (in_dim rows, zero rows up to a multiple of 16)
    rows next hidden, per hidden layer W_iᵀ   (hidden rows each)
    rows last 16                       W_L    (out_dim rows, zero rows up to 16)

Every column therefore belongs to one hidden unit: column ``j`` holds the weights *into* unit
``j`` for the first layers and the weights *out of* unit ``j`` of the last hidden layer in the
output block. For the default NeRF (144 -> 3x64 -> 4) that is ``144 + 64 + 64 + 16 = 288`` rows.
This is clip2nerf's layout (the released nf2vec code reads another, see below); changing it
invalidates every trained encoder, so it is versioned (``LAYOUT_VERSION``) and pinned by tests.

The released nf2vec *code* reads another arrangement of the same numbers: tiny-cuda-nn's flat
row-major parameter vector cut into rows of 64 (``tcnn_matrix``; there the first layer's rows
mix units, and the hidden layers appear untransposed). Encoders with
``EncoderConfig.input_layout = "tcnn"`` (the reference checkpoint imported by
``clip2nerf import nf2vec``) convert to it internally; NeRF files and this layout are unchanged.
"""

from __future__ import annotations

import torch

from clip2nerf.nerf.config import NerfConfig

LAYOUT_VERSION = 1
ROW_MULTIPLE = 16
"""The input block is padded to a multiple of this many rows, the output block to exactly it."""


def _pad_to(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def block_rows(config: NerfConfig) -> list[tuple[int, int]]:
    """``(used_rows, padded_rows)`` of each layer's block, in layer order."""
    if config.out_dim > ROW_MULTIPLE:
        raise ValueError(f"out_dim {config.out_dim} does not fit the {ROW_MULTIPLE}-row output block")
    blocks = [(config.in_dim, _pad_to(config.in_dim, ROW_MULTIPLE))]
    blocks += [(config.hidden, config.hidden)] * (config.n_hidden_layers - 1)
    blocks.append((config.out_dim, ROW_MULTIPLE))
    return blocks


def matrix_shape(config: NerfConfig) -> tuple[int, int]:
    """``(rows, hidden)`` of the weight matrix: (288, 64) for the default NeRF."""
    return sum(p for _, p in block_rows(config)), config.hidden


def output_rows(config: NerfConfig) -> slice:
    """The rows holding the output layer's weights ``W_L`` (its padding excluded)."""
    start = matrix_shape(config)[0] - ROW_MULTIPLE
    return slice(start, start + config.out_dim)


def weights_to_matrix(weights: list[torch.Tensor], config: NerfConfig) -> torch.Tensor:
    """Lay out MLP weights as the encoder's input matrix.

    Args:
        weights: ``layers.i.weight`` tensors in layer order, each ``(out, in)`` or batched
            ``(batch, out, in)`` (shapes ``config.layer_shapes()``).
        config: the NeRF architecture.
    Returns:
        ``(rows, hidden)`` or ``(batch, rows, hidden)`` matrix (``matrix_shape(config)``).
    """
    shapes = config.layer_shapes()
    if len(weights) != len(shapes):
        raise ValueError(f"expected {len(shapes)} weight tensors, got {len(weights)}")
    blocks = []
    last = len(weights) - 1
    for i, (w, shape, (used, padded)) in enumerate(zip(weights, shapes, block_rows(config),
                                                       strict=True)):
        if tuple(w.shape[-2:]) != shape:
            raise ValueError(f"layers.{i}.weight has shape {tuple(w.shape[-2:])}, expected {shape}")
        block = w if i == last else w.transpose(-1, -2)  # (used, hidden)
        if padded > used:
            pad = block.new_zeros(*block.shape[:-2], padded - used, block.shape[-1])
            block = torch.cat((block, pad), dim=-2)
        blocks.append(block)
    return torch.cat(blocks, dim=-2)


def matrix_to_weights(matrix: torch.Tensor, config: NerfConfig) -> list[torch.Tensor]:
    """Inverse of ``weights_to_matrix`` (padding rows are dropped).

    Args:
        matrix: ``(rows, hidden)`` or ``(batch, rows, hidden)``.
    Returns:
        ``layers.i.weight`` tensors, ``(out, in)`` or ``(batch, out, in)``, contiguous.
    """
    if tuple(matrix.shape[-2:]) != matrix_shape(config):
        raise ValueError(f"weight matrix has shape {tuple(matrix.shape[-2:])}, expected "
                         f"{matrix_shape(config)} for a NeRF with {config.describe()}")
    blocks = _padded_blocks(matrix, config)
    last = len(blocks) - 1
    return [(b[..., :used, :] if i == last else b[..., :used, :].transpose(-1, -2)).contiguous()
            for i, (used, b) in enumerate(blocks)]


def _padded_blocks(matrix: torch.Tensor, config: NerfConfig) -> list[tuple[int, torch.Tensor]]:
    """Each layer's rows of the matrix, padding included, with how many of them it uses."""
    blocks, start = [], 0
    for used, padded in block_rows(config):
        blocks.append((used, matrix[..., start:start + padded, :]))
        start += padded
    return blocks


def state_dict_to_matrix(state_dict: dict[str, torch.Tensor], config: NerfConfig) -> torch.Tensor:
    """``NerfField.state_dict()`` -> ``(rows, hidden)`` matrix."""
    n = len(config.layer_shapes())
    missing = [f"layers.{i}.weight" for i in range(n) if f"layers.{i}.weight" not in state_dict]
    if missing:
        raise ValueError(f"NeRF weights lack {', '.join(missing)}")
    return weights_to_matrix([state_dict[f"layers.{i}.weight"] for i in range(n)], config)


def matrix_to_state_dict(matrix: torch.Tensor, config: NerfConfig) -> dict[str, torch.Tensor]:
    """``(rows, hidden)`` matrix -> a state dict ``NerfField(config).load_state_dict`` accepts."""
    return {f"layers.{i}.weight": w for i, w in enumerate(matrix_to_weights(matrix, config))}


def tcnn_matrix(matrix: torch.Tensor, config: NerfConfig) -> torch.Tensor:
    """Our weight matrix (``clip2nerf.nf2vec.layout``) -> the matrix nf2vec's encoder reads.

    nf2vec (``nerf2vec/utils.py::get_mlp_params_as_matrix``) appends
    ``(hidden - 16) · hidden`` zeros to the flat tcnn vector and reshapes it to
    ``(-1, hidden)``: rows are consecutive chunks of the row-major matrices (for the first
    layer, chunks of its 144-wide rows; for the hidden layers, the rows ``W_i[j]`` of weights
    *into* unit ``j``), then the 16 output rows and zero rows. 336 rows for the nf2vec NeRF.

    Args:
        matrix: ``(rows, hidden)`` or ``(batch, rows, hidden)`` in our layout; rows
            ``output_rows`` and the 12 padding rows after them hold ``W_L`` and tcnn's
            padded output rows.
    Returns:
        ``(..., 336, hidden)`` for the default NeRF.
    """
    if config.in_dim % ROW_MULTIPLE:
        raise ValueError("the tcnn encoder layout needs 3·2·n_freqs to be a multiple of 16")
    if config.out_dim > ROW_MULTIPLE:
        raise ValueError(f"out_dim {config.out_dim} does not pad to {ROW_MULTIPLE} rows")
    lead = matrix.shape[:-2]
    h = config.hidden
    parts = []
    blocks = _padded_blocks(matrix, config)
    for i, (used, block) in enumerate(blocks):
        if i == len(blocks) - 1:
            parts.append(block)  # (16, hidden): W_L and the padded rows, row-major as is
        else:
            w = block[..., :used, :].transpose(-1, -2)  # (hidden, in) = tcnn's row-major W_i
            parts.append(w.reshape(*lead, -1, h))
    parts.append(matrix.new_zeros(*lead, h - ROW_MULTIPLE, h))  # nf2vec's zero padding
    return torch.cat(parts, dim=-2)


__all__ = ["LAYOUT_VERSION", "ROW_MULTIPLE", "block_rows", "matrix_shape", "output_rows",
           "tcnn_matrix", "weights_to_matrix", "matrix_to_weights", "state_dict_to_matrix", "matrix_to_state_dict"]
