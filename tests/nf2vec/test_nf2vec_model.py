"""Encoder, decoder, model files and presets."""

import dataclasses
import json

import pytest
import torch
from nf2vec_helpers import TINY_MODEL, make_field

from clip2nerf.errors import UserError
from clip2nerf.nf2vec.config import Nf2vecConfig, list_presets, load_preset
from clip2nerf.nf2vec.layout import state_dict_to_matrix
from clip2nerf.nf2vec.model import Nf2vec


def _matrices(seeds):
    return torch.stack([state_dict_to_matrix(make_field(s).state_dict(), make_field(s).config)
                        for s in seeds])


def test_encoder_shapes_and_unit_norm():
    torch.manual_seed(0)
    model = Nf2vec(TINY_MODEL).eval()
    emb = model.embed(_matrices([0, 1, 2]))
    assert emb.shape == (3, 48)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))


@pytest.mark.parametrize("rows", [slice(0, 144), slice(144, 208), slice(208, 272),
                                  slice(272, 276)], ids=["input", "hidden1", "hidden2", "output"])
def test_encoder_sees_every_layer(rows):
    torch.manual_seed(0)
    model = Nf2vec(TINY_MODEL).eval()
    m = _matrices([5])
    base = model.embed(m)
    pert = m.clone()
    g = torch.Generator().manual_seed(1)
    pert[0, rows] += torch.randn(pert[0, rows].shape, generator=g)
    assert not torch.allclose(model.embed(pert), base, atol=1e-4)


def _with_encoder(**options) -> Nf2vec:
    import dataclasses

    torch.manual_seed(0)
    config = dataclasses.replace(TINY_MODEL,
                                 encoder=dataclasses.replace(TINY_MODEL.encoder, **options))
    model = Nf2vec(config).eval()
    if model.encoder.row_position is not None:  # a fixed draw, independent of the init
        with torch.no_grad():
            model.encoder.row_position.normal_(generator=torch.Generator().manual_seed(2))
    return model


def _swap_rows_across_layers(m: torch.Tensor) -> torch.Tensor:
    swapped = m.clone()
    swapped[:, [150, 220]] = m[:, [220, 150]]  # a row of hidden layer 1 <-> one of layer 2
    return swapped


def test_plain_max_over_rows_cannot_tell_which_layer_a_row_is_in():
    """nf2vec's encoder is a set function of the rows; row_positions removes that blindness."""
    m = _matrices([5])
    plain = _with_encoder()
    torch.testing.assert_close(plain.embed(_swap_rows_across_layers(m)), plain.embed(m))
    positional = _with_encoder(row_positions=True)
    # The swap moves the embedding by 1.1e-4 (measured); float32 rounding alone moves it by
    # < 1e-6 (fan-in <= 64 x 6e-8), so 1e-5 tells a real change from another machine's rounding.
    moved = positional.embed(_swap_rows_across_layers(m)) - positional.embed(m)
    assert float(moved.abs().max()) > 1e-5


def test_skip_zero_rows_leaves_zero_rows_out_of_the_max():
    m = _matrices([5, 6])
    zero = (m[0] == 0).all(-1)
    assert zero.any(), "the layout pads with zero rows"
    skipping = _with_encoder(skip_zero_rows=True)
    plain = _with_encoder()
    # Eval-mode BatchNorm is per row, so the plain encoder on the non-zero rows alone is the
    # reference. Other row counts are other float32 sums: torch's float32 default tolerance
    # (1e-5 + 1.3e-6 x |x|) covers fan-in <= 64 x 6e-8 x |x| <= ~1 (4e-6), here and below.
    torch.testing.assert_close(skipping.encoder(m[0:1]), plain.encoder(m[0:1, ~zero]))
    all_zero = torch.zeros_like(m[:1])
    assert torch.isfinite(skipping.encoder(all_zero)).all()
    # Skipping rows that are zero in the whole batch gives what each NeRF gets alone.
    m[1, :40] = 0
    both = skipping.encoder(torch.cat([m, all_zero]))
    alone = torch.cat([skipping.encoder(m[i:i + 1]) for i in range(2)] +
                      [skipping.encoder(all_zero)])
    torch.testing.assert_close(both, alone)


def test_cpu_preset_encoder_options_together_are_batch_independent():
    """Row positions + skipped zero rows (the cpu preset): a NeRF's embedding does not depend on
    which rows the rest of its batch leaves unused."""
    m = _matrices([5, 6, 7])
    m[1, :40] = 0
    model = _with_encoder(row_positions=True, skip_zero_rows=True)
    alone = torch.cat([model.embed(m[i:i + 1]) for i in range(3)])
    # Batched vs one-by-one: other float32 sums through layers of fan-in <= 64 (64 x 6e-8 x
    # |component| <= 1: 4e-6); a batch dependence moves components by > 1e-3.
    torch.testing.assert_close(model.embed(m), alone, rtol=1e-5, atol=1e-5)
    model.train()
    assert torch.isfinite(model.embed(m)).all()


def test_project_after_max_is_the_projection_of_the_pooled_hidden_features():
    m = _matrices([5, 6, 7])
    model = _with_encoder(row_positions=True, skip_zero_rows=True, project_after_max=True)
    enc = model.encoder
    rows = (m != 0).any(-1)[0]
    h = enc.rows_mlp[0](m[:1, rows]) + enc.row_position[rows]
    pooled = enc.rows_mlp[1:](h[0]).amax(dim=0)
    torch.testing.assert_close(enc(m[:1]), enc.proj(pooled)[None], rtol=1e-5, atol=1e-5)
    # same options otherwise: batch independent (float32 bound as above), every layer seen
    alone = torch.cat([model.embed(m[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(model.embed(m), alone, rtol=1e-5, atol=1e-5)
    pert = m.clone()
    pert[0, 272:276] += 1.0  # the output layer's rows
    assert not torch.allclose(model.embed(pert)[0], model.embed(m)[0], atol=1e-4)


def test_output_layer_path_adds_a_linear_of_the_output_layer():
    m = _matrices([5, 6, 7])
    options = dict(row_positions=True, skip_zero_rows=True, project_after_max=True)
    model = _with_encoder(**options, output_layer_path=True)
    enc = model.encoder
    without = _with_encoder(**options)
    without.encoder.load_state_dict(enc.state_dict(), strict=False)
    head = enc.output_layer(m[:, 272:276].flatten(1))
    torch.testing.assert_close(enc(m), without.encoder(m) + head, rtol=1e-5, atol=1e-5)
    # batch independent (the path reads the rows before unused ones are skipped)
    m[1, :40] = 0
    alone = torch.cat([model.embed(m[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(model.embed(m), alone, rtol=1e-5, atol=1e-5)  # float32, as above
    # a max over rows cannot tell the red head from the green one; the path can
    swapped = m.clone()
    swapped[:, [272, 273]] = m[:, [273, 272]]
    plain = _with_encoder()
    torch.testing.assert_close(plain.embed(swapped), plain.embed(m))
    with_path = _with_encoder(output_layer_path=True)
    assert not torch.allclose(with_path.embed(swapped), with_path.embed(m), atol=1e-4)


def test_encoder_batch_independent_in_eval():
    torch.manual_seed(0)
    model = Nf2vec(TINY_MODEL).eval()
    m = _matrices([0, 1, 2])
    # batch of 3 vs 1: other float32 sums, fan-in <= 64 x 6e-8 x |component| <= 1 = 4e-6
    torch.testing.assert_close(model.embed(m)[1:2], model.embed(m[1:2]), rtol=1e-5, atol=1e-5)


def test_decoder_split_first_layer_equals_concatenated_input():
    """Conditioning once per NeRF is the same function as concatenating e and γ(x) per point."""
    from clip2nerf.nerf.encoding import frequency_encode, normalize_to_box

    torch.manual_seed(0)
    dec = Nf2vec(TINY_MODEL).decoder
    emb = torch.randn(2, 48, requires_grad=True)
    xyz = torch.rand(2, 50, 3) * 1.4 - 0.7
    out = dec.raw(dec.condition(emb), xyz)

    e = torch.nn.functional.normalize(emb, dim=-1) * 48**0.5
    g = frequency_encode(normalize_to_box(xyz.reshape(-1, 3), dec.aabb), 3).reshape(2, 50, -1)
    inp = torch.cat([e[:, None].expand(-1, 50, -1), g], dim=-1)
    w0 = torch.cat([dec.first_embed.weight, dec.first_point.weight], dim=1)
    h = torch.relu(inp @ w0.T + dec.first_embed.bias)
    for layer in dec.before:
        h = torch.relu(layer(h))
    w_skip = torch.cat([dec.skip_hidden.weight, dec.skip_embed.weight, dec.skip_point.weight], 1)
    h = torch.relu(torch.cat([h, inp], -1) @ w_skip.T + dec.skip_embed.bias)
    for layer in dec.after:
        h = torch.relu(layer(h))
    ref = dec.out(h)
    # one fused matmul vs split ones: float32 sums over <= 80 terms, measured 9e-8 vs float64
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    (g1,) = torch.autograd.grad(out.sum(), emb)
    (g2,) = torch.autograd.grad(ref.sum(), emb)
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-5)


def test_decoder_field_fn_matches_batched_query():
    torch.manual_seed(0)
    dec = Nf2vec(TINY_MODEL).decoder
    emb = torch.randn(48)
    xyz = torch.rand(40, 3) * 1.4 - 0.7
    rgb, sigma = dec.field(emb)(xyz)
    rgb2, sigma2 = dec.query(dec.condition(emb[None]), xyz[None])
    assert rgb.shape == (40, 3) and sigma.shape == (40,)
    torch.testing.assert_close(rgb, rgb2[0])
    torch.testing.assert_close(sigma, sigma2[0])
    assert (sigma >= 0).all() and ((rgb >= 0) & (rgb <= 1)).all()


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = Nf2vec(TINY_MODEL).eval()
    m = _matrices([0, 1])
    model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["version"] == 1
    loaded = Nf2vec.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config
    assert loaded.space == model.space and loaded.space.startswith("nf2vec:tiny@")
    torch.testing.assert_close(loaded.embed(m), model.embed(m))
    xyz = torch.rand(1, 20, 3) - 0.5
    e = model.embed(m[:1])
    torch.testing.assert_close(loaded.decoder.raw(loaded.decoder.condition(e), xyz),
                               model.decoder.raw(model.decoder.condition(e), xyz))
    other = Nf2vec(TINY_MODEL)
    assert other.space != model.space  # other weights -> another space name


def test_from_pretrained_refuses_bad_folders(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Nf2vec.from_pretrained(tmp_path / "missing")
    Nf2vec(TINY_MODEL).save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["decoder"]["hidden"] = 64
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="hidden|shape"):
        Nf2vec.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="model.safetensors"):
        Nf2vec.from_pretrained(tmp_path / "m")


def test_presets():
    assert {"cpu", "cpu-color", "released"} <= set(list_presets())
    released, released_train = load_preset("released")
    assert released_train.fg_weight == 0.8 and released_train.bg_weight == 0.2  # nf2vec's
    assert released.encoder.widths == (512, 512, 1024, 1024)
    assert released.encoder.embed_dim == 1024 and released.decoder.hidden == 1024
    cpu, train = load_preset("cpu")
    assert cpu.encoder.embed_dim == 1024 and cpu.decoder.hidden < 1024
    assert train.loss == "distill" and train.epochs >= 1
    assert Nf2vecConfig.from_dict(cpu.to_dict()) == cpu
    color, color_train = load_preset("cpu-color")
    assert color.encoder.output_layer_path and color.decoder.color_head
    assert color_train.rgb_weight > train.rgb_weight
    assert dataclasses.replace(color.decoder, color_head=False) == cpu.decoder
    with pytest.raises(UserError, match="unknown nf2vec preset"):
        load_preset("nope")
    model = Nf2vec(released)
    assert model.encoder.proj.out_features == 1024
    assert model.encoder.rows_mlp[0].in_features == 64


def test_uncenter_inverts_center():
    from clip2nerf.nf2vec.decoder import center_embeddings, uncenter_embeddings

    g = torch.Generator().manual_seed(0)
    base = torch.randn(16, generator=g)
    u = torch.nn.functional.normalize(base + 0.2 * torch.randn(50, 16, generator=g), dim=-1)
    for center in (u.mean(0), torch.zeros(16)):
        e = center_embeddings(u, center)
        torch.testing.assert_close(e.norm(dim=-1), torch.ones(50))
        torch.testing.assert_close(uncenter_embeddings(e, center), u, rtol=1e-4, atol=1e-5)
    # centring spreads the NeRFs apart: the mean cosine drops from near 1 to near 0
    e = center_embeddings(u, u.mean(0))
    assert (u @ u.T).mean() > 0.8 and (e @ e.T).mean().abs() < 0.1


@pytest.mark.parametrize("row_positions", [False, True])
def test_eval_forward_with_folded_batchnorm_equals_the_modules(row_positions):
    """Inference folds each BatchNorm into its Linear; the result equals running the modules."""
    torch.manual_seed(0)
    model = _with_encoder(row_positions=row_positions, skip_zero_rows=True)
    enc = model.encoder
    for mod in enc.rows_mlp:  # non-trivial running statistics and affine parameters
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.normal_()
            mod.bias.data.normal_()
    m = _matrices([1, 2, 3])
    b, r, c = m.shape
    x = m.reshape(b * r, c)
    with torch.no_grad():
        if enc.row_position is None:
            ref = enc.rows_mlp(x)
        else:
            ref = enc.rows_mlp[0](x).reshape(b, r, -1) + enc.row_position
            ref = enc.rows_mlp[1:](ref.reshape(b * r, -1))
        got = enc._rows_inference(x, enc.row_position, b, r)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    assert not enc.training


@pytest.mark.gpu
def test_embed_on_cuda_matches_cpu():
    """The encoder on the GPU gives the CPU's embeddings. Tolerance: cuBLAS may use TF32
    (10-bit mantissa, relative error ~1e-3 per product) in the encoder's matrix products, so
    unit vectors agree to cosine 0.999, not to float32 rounding."""
    torch.manual_seed(0)
    model = Nf2vec(TINY_MODEL).eval()
    m = _matrices([0, 1, 2])
    cpu = model.embed(m)
    gpu = model.to("cuda").embed(m.to("cuda")).cpu()
    assert (cpu * gpu).sum(-1).min() > 0.999, (cpu * gpu).sum(-1)
