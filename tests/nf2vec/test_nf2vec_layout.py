"""The weight-matrix layout is a file format: pin positions, padding, the round trip."""

import pytest
import torch
from nf2vec_helpers import make_field

from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.field import NerfField
from clip2nerf.nf2vec.layout import (
    block_rows,
    matrix_shape,
    matrix_to_state_dict,
    matrix_to_weights,
    output_rows,
    state_dict_to_matrix,
    weights_to_matrix,
)
from clip2nerf.nf2vec.nerfs import batched_nerf_forward


def test_default_shape_and_blocks():
    cfg = NerfConfig()
    assert matrix_shape(cfg) == (288, 64)
    assert block_rows(cfg) == [(144, 144), (64, 64), (64, 64), (4, 16)]


def test_positions_are_pinned():
    field = make_field(0)
    w = [layer.weight.detach() for layer in field.layers]
    m = state_dict_to_matrix(field.state_dict(), field.config)
    # column j belongs to hidden unit j everywhere
    assert torch.equal(m[:144], w[0].T)
    assert m[5, 7] == w[0][7, 5]
    assert m[144 + 3, 9] == w[1][9, 3]
    assert m[208 + 63, 0] == w[2][0, 63]
    assert torch.equal(m[272:276], w[3])
    assert m[273, 11] == w[3][1, 11]
    assert torch.count_nonzero(m[276:]) == 0
    assert output_rows(field.config) == slice(272, 276)


def test_input_block_padded_to_multiple_of_16():
    cfg = NerfConfig(n_freqs=5, hidden=16, n_hidden_layers=2)  # in_dim 30 -> 32 rows
    assert block_rows(cfg) == [(30, 32), (16, 16), (4, 16)]
    field = make_field(1, cfg)
    m = state_dict_to_matrix(field.state_dict(), cfg)
    assert m.shape == (64, 16)
    assert torch.count_nonzero(m[30:32]) == 0


def test_round_trip_gives_same_nerf_output():
    field = make_field(2)
    m = state_dict_to_matrix(field.state_dict(), field.config)
    clone = NerfField(field.config)
    clone.load_state_dict(matrix_to_state_dict(m, field.config))
    xyz = torch.rand(500, 3) * 1.4 - 0.7
    with torch.no_grad():
        rgb0, s0 = field(xyz)
        rgb1, s1 = clone(xyz)
    assert torch.equal(rgb0, rgb1) and torch.equal(s0, s1)
    # and matrix -> weights -> matrix is the identity
    assert torch.equal(weights_to_matrix(matrix_to_weights(m, field.config), field.config), m)


def test_batched_layout_and_forward_match_single():
    fields = [make_field(s) for s in (3, 4)]
    cfg = fields[0].config
    mats = torch.stack([state_dict_to_matrix(f.state_dict(), cfg) for f in fields])
    stacked = [torch.stack(ws) for ws in zip(*[[lay.weight.detach() for lay in f.layers]
                                               for f in fields], strict=True)]
    assert torch.equal(weights_to_matrix(stacked, cfg), mats)
    xyz = torch.rand(2, 300, 3) * 1.4 - 0.7
    rgb, sigma = batched_nerf_forward(mats, xyz, cfg)
    for b, f in enumerate(fields):
        with torch.no_grad():
            r, s = f(xyz[b])
        # bmm vs Linear: other float32 sums over 144 + 3 x 64 terms (measured error vs
        # float64: 2.7e-7 rgb, 1e-6 relative sigma = exp(raw)); a layout bug moves them > 0.01.
        torch.testing.assert_close(rgb[b], r, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(sigma[b], s, rtol=1e-4, atol=1e-5)


def test_wrong_shapes_refused():
    cfg = NerfConfig()
    with pytest.raises(ValueError, match="expected"):
        matrix_to_weights(torch.zeros(287, 64), cfg)
    with pytest.raises(ValueError, match=r"layers.1.weight"):
        weights_to_matrix([torch.zeros(64, 144), torch.zeros(32, 64), torch.zeros(64, 64),
                           torch.zeros(4, 64)], cfg)
