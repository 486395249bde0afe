"""Reference nf2vec encoder and clip2nerf ``fmn`` checkpoints -> our models, same outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from clip2nerf.errors import UserError
from clip2nerf.interop.checkpoints import load_reference_mapper, load_reference_nf2vec
from clip2nerf.interop.tcnn import state_dict_to_flat
from clip2nerf.nerf import NerfConfig, NerfField
from clip2nerf.nf2vec.layout import state_dict_to_matrix


class RefEncoder(nn.Module):
    """nf2vec's models/encoder.py::Encoder as documented: Conv1d(k=1)+BN+ReLU blocks, a last
    Conv1d, max over rows (written here from that description)."""

    def __init__(self, widths=(32, 32, 48), embed=40):
        super().__init__()
        layers, d = [], 64
        for w in widths:
            layers += [nn.Conv1d(d, w, 1), nn.BatchNorm1d(w), nn.ReLU()]
            d = w
        layers.append(nn.Conv1d(d, embed, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):  # x: (b, rows, 64)
        return self.layers(x.transpose(2, 1)).max(dim=2).values


def ref_matrix(flat: torch.Tensor) -> torch.Tensor:
    """nf2vec's get_mlp_params_as_matrix: append (64 - 16) * 64 zeros, reshape to (-1, 64)."""
    return torch.cat((flat, torch.zeros((64 - 16) * 64))).reshape(-1, 64)


def test_reference_encoder_gives_the_same_embedding(tmp_path):
    torch.manual_seed(0)
    ref = RefEncoder()
    for m in ref.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
    ref.eval()
    torch.save({"epoch": 3, "encoder": ref.state_dict(), "decoder": {}, "best_psnr": 20.0},
               tmp_path / "best.pt")
    model = load_reference_nf2vec(tmp_path / "best.pt")
    cfg = NerfConfig()
    fields = [NerfField(cfg) for _ in range(3)]
    pads = [torch.randn(12, 64) for _ in fields]
    ours_in, ref_in = [], []
    for f, pad in zip(fields, pads, strict=True):
        m = state_dict_to_matrix(f.state_dict(), cfg)
        m[276:288] = pad  # what load_nerf_set(output_padding=True) writes for imported NeRFs
        ours_in.append(m)
        ref_in.append(ref_matrix(state_dict_to_flat(f.state_dict(), cfg, pad)))
    with torch.no_grad():
        want = ref(torch.stack(ref_in))
        got = model.embed(torch.stack(ours_in))
    assert got.shape == want.shape == (3, 40)
    # Same float32 operations in another order (Linear vs 1x1 Conv1d, BatchNorm folded or
    # not): a few float32 ulps of values of order 1-10.
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(UserError, match="no trained decoder"):
        model.decoder.field(got[0])


def test_encoder_checkpoint_needs_plain_tensors(tmp_path):
    import numpy as np

    torch.save({"encoder": {"layers.0.weight": np.zeros(3)}}, tmp_path / "bad.pt")
    with pytest.raises(UserError, match="refused"):
        load_reference_nf2vec(tmp_path / "bad.pt")
    torch.save({"net": {}}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="encoder"):
        load_reference_nf2vec(tmp_path / "other.pt")


def ref_fmn(sizes):
    """clip2nerf's feature_mapping/fmn.py::FeatureMappingNetwork as documented."""
    layers, d = [], sizes[0]
    for w in sizes[1:-1]:
        layers += [nn.Linear(d, w), nn.GELU()]
        d = w
    layers.append(nn.Linear(d, sizes[-1]))
    net = nn.Module()
    net.layers = nn.Sequential(*layers)
    return net


@pytest.mark.parametrize("direction,sizes", [("clip2nerf", [16, 16, 24, 32, 32]),
                                             ("nerf2clip", [32, 16, 24, 32, 16])])
def test_fmn_maps_identically(tmp_path, direction, sizes):
    torch.manual_seed(1)
    ref = ref_fmn(sizes).eval()
    torch.save({"epoch": 149, "fmn": ref.state_dict(), "best_loss": 0.1}, tmp_path / "fmn.pt")
    mapper = load_reference_mapper(tmp_path / "fmn.pt", direction, "vlm:clip-test",
                                   "nf2vec:nf2vec-reference@abcd1234", input_scale=2.0)
    x = torch.randn(5, sizes[0])
    with torch.no_grad():
        want = ref.layers(2.0 * x)
    got = mapper.map(x.numpy())
    # clip2nerf keeps raw outputs (they feed nf2vec's decoder); nerf2clip's are unit vectors.
    if direction == "nerf2clip":
        want = nn.functional.normalize(want, dim=-1)
    assert torch.allclose(torch.from_numpy(got), want, atol=1e-6)
    cfg = mapper.config
    assert cfg.hidden_dims == sizes[1:-1] and cfg.in_dim == sizes[0]
    # The spaces it implies feed the compatibility checks.
    with pytest.raises(UserError, match="trained with"):
        cfg.check_compatible(nf2vec_space="nf2vec:cpu@00000000")
    mapper.save_pretrained(tmp_path / "saved")
    from clip2nerf.mapping.model import FeatureMapper

    again = FeatureMapper.from_pretrained(tmp_path / "saved", direction=direction)
    assert (again.map(x.numpy()) == got).all()


class RefDecoder(nn.Module):
    """nf2vec's models/idecoder.py::ImplicitDecoder as documented (tcnn encoding replaced by
    the same frequency features): in_layer, before_skip, x + skip_proj, after_skip, raw
    embeddings, sigmoid colour, trunc_exp(x - 1) density."""

    def __init__(self, embed=24, hidden=32, n_before=2, n_after=2):
        super().__init__()
        p = 144

        def block(i, o):
            return nn.Sequential(nn.Linear(i, o), nn.ReLU())

        self.in_layer = block(embed + p, hidden)
        self.skip_proj = block(embed + p, hidden)
        self.before_skip = nn.Sequential(*[block(hidden, hidden) for _ in range(n_before)])
        self.after_skip = nn.Sequential(*[block(hidden, hidden) for _ in range(n_after)],
                                        nn.Linear(hidden, 4))

    def forward(self, emb, xyz):  # emb (b, e), xyz (b, n, 3) in the nf2vec box
        from clip2nerf.nerf.encoding import frequency_encode

        u = (xyz + 0.7) / 1.4
        g = frequency_encode(u.reshape(-1, 3), 24).reshape(*xyz.shape[:2], -1)
        x0 = torch.cat([emb[:, None].expand(-1, xyz.shape[1], -1), g], dim=-1)
        x = self.before_skip(self.in_layer(x0)) + self.skip_proj(x0)
        out = self.after_skip(x)
        return torch.sigmoid(out[..., :3]), torch.exp(out[..., 3] - 1)


def test_reference_decoder_decodes_identically(tmp_path):
    torch.manual_seed(2)
    enc, dec = RefEncoder(), RefDecoder(embed=40)
    torch.save({"encoder": enc.eval().state_dict(), "decoder": dec.state_dict()},
               tmp_path / "full.pt")
    model = load_reference_nf2vec(tmp_path / "full.pt")
    cfg = model.config.decoder
    assert (cfg.skip, cfg.raw_embeddings, cfg.n_layers_before_skip, cfg.n_layers_after_skip,
            cfg.hidden) == ("add", True, 3, 2, 32)
    emb = torch.randn(2, 40) * 3  # raw, unnormalised embeddings as nf2vec exports them
    xyz = torch.rand(2, 100, 3) * 1.4 - 0.7
    with torch.no_grad():
        want_rgb, want_sigma = dec(emb, xyz)
        rgb, sigma = model.decoder.query(model.decoder.condition(emb), xyz)
    assert torch.allclose(rgb, want_rgb, atol=1e-5)
    assert torch.allclose(sigma, want_sigma, rtol=1e-4, atol=1e-5)
    # Saved and reloaded, the model still decodes (decoder_trained survives the config).
    model.save_pretrained(tmp_path / "m")
    from clip2nerf.nf2vec import Nf2vec

    again = Nf2vec.from_pretrained(tmp_path / "m")
    with torch.no_grad():
        rgb2, _ = again.decoder.query(again.decoder.condition(emb), xyz)
    assert torch.equal(rgb2, rgb)
