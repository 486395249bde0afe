"""The field's frozen layout and encoding; NeRF file round-trip and refusal of bad files."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.encoding import frequency_encode, frequency_encode_naive
from clip2nerf.nerf.field import NerfField, trunc_exp
from clip2nerf.nerf.io import NerfFileError, load_nerf, save_nerf
from clip2nerf.nerf.occupancy import OccupancyGrid


def test_default_architecture_state_dict_layout():
    sd = NerfField().state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "layers.0.weight": (64, 144), "layers.1.weight": (64, 64),
        "layers.2.weight": (64, 64), "layers.3.weight": (4, 64)}


def test_encoding_equals_textbook_formula_and_order():
    u = torch.rand(50, 3, dtype=torch.float64)
    # float64: the naive form's argument 2^23 pi u is off by <= ~5e-9 (math.pi's error x 2^23
    # plus one rounding); the range-reduced form's by ~1e-15, whatever the CPU.
    assert torch.allclose(frequency_encode(u, 24), frequency_encode_naive(u, 24), atol=1e-8)
    # Feature d*48 + 2k is sin(2^k pi u_d), +1 is the cosine.
    u = torch.tensor([[0.1, 0.2, 0.3]], dtype=torch.float64)
    f = frequency_encode(u, 24)
    assert torch.isclose(f[0, 48 + 2 * 3], torch.sin(torch.tensor(8 * torch.pi * 0.2,
                                                                  dtype=torch.float64)))
    assert torch.isclose(f[0, 2 * 48 + 1], torch.cos(torch.tensor(torch.pi * 0.3,
                                                                  dtype=torch.float64)))


def test_field_outputs_and_box_normalisation():
    cfg = NerfConfig(aabb=((-1.0, -2.0, 0.0), (1.0, 2.0, 4.0)))
    f = NerfField(cfg)
    rgb, sigma = f(torch.tensor([[0.0, 0.0, 2.0], [-1.0, -2.0, 0.0]]))
    assert rgb.shape == (2, 3) and sigma.shape == (2,)
    assert (rgb > 0).all() and (rgb < 1).all() and (sigma > 0).all()
    # The box maps to [0, 1]^3 before encoding: its min corner encodes as sin 0 / cos 0.
    u = (torch.tensor([[-1.0, -2.0, 0.0]]) - f.aabb[:3]) / (f.aabb[3:] - f.aabb[:3])
    assert torch.allclose(frequency_encode(u, 24)[0, :2], torch.tensor([0.0, 1.0]))


def test_trunc_exp_gradient_is_clamped():
    x = torch.tensor([0.0, 30.0], requires_grad=True)
    trunc_exp(x, clamp=15.0).sum().backward()
    assert torch.allclose(x.grad, torch.exp(torch.tensor([0.0, 15.0])))


@pytest.fixture
def nerf_file(tmp_path):
    torch.manual_seed(0)
    cfg = NerfConfig()
    field = NerfField(cfg)
    grid = OccupancyGrid(torch.rand(16, 16, 16) > 0.5, torch.tensor([-.7] * 3 + [.7] * 3))
    path = save_nerf(tmp_path / "a.safetensors", field, cfg, grid,
                     {"object_id": "chair_0001", "class_name": "chair", "psnr": 30.5})
    return path, field, grid


def test_round_trip(nerf_file):
    path, field, grid = nerf_file
    nf = load_nerf(path, expected_config=NerfConfig())
    assert nf.object_id == "chair_0001" and nf.class_name == "chair" and nf.meta["psnr"] == 30.5
    assert torch.equal(nf.occupancy.binary, grid.binary)
    for k, v in field.state_dict().items():
        assert torch.equal(nf.state_dict[k], v)
    x = torch.rand(10, 3) - 0.5
    assert torch.equal(nf.field(x)[1], field(x)[1])
    assert not list(path.parent.glob(".*tmp*"))  # atomic write left no temp file


def test_truncated_and_garbage_files_are_refused(nerf_file, tmp_path):
    path, _, _ = nerf_file
    data = path.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(NerfFileError, match="trunc.safetensors.*truncated or corrupt"):
        load_nerf(tmp_path / "trunc.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(NerfFileError, match="junk.safetensors"):
        load_nerf(tmp_path / "junk.safetensors")
    with pytest.raises(NerfFileError, match="not found"):
        load_nerf(tmp_path / "missing.safetensors")


def _rewrite(path, tmp_path, name, tensors=None, header=None):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        meta = dict(fh.metadata())
    t = load_file(str(path))
    if tensors:
        t.update(tensors)
    if header:
        meta.update(header)
    out = tmp_path / name
    save_file(t, str(out), metadata=meta)
    return out


def test_nan_weights_refused(nerf_file, tmp_path):
    path, field, _ = nerf_file
    w = field.state_dict()["layers.1.weight"].clone()
    w[3, 4] = float("nan")
    bad = _rewrite(path, tmp_path, "nan.safetensors", {"layers.1.weight": w})
    with pytest.raises(NerfFileError, match="layers.1.weight contains NaN"):
        load_nerf(bad)


def test_weights_only_read_skips_the_grid_but_still_validates(nerf_file, tmp_path):
    path, field, _ = nerf_file
    nf = load_nerf(path, expected_config=NerfConfig(), occupancy=False)
    assert nf.occupancy is None and nf.object_id == "chair_0001"
    for k, v in field.state_dict().items():
        assert torch.equal(nf.state_dict[k], v)
    w = field.state_dict()["layers.0.weight"].clone()
    w[0, 0] = float("inf")
    bad = _rewrite(path, tmp_path, "inf.safetensors", {"layers.0.weight": w})
    with pytest.raises(NerfFileError, match="layers.0.weight contains NaN or infinite"):
        load_nerf(bad, occupancy=False)


def test_wrong_shape_and_dtype_refused(nerf_file, tmp_path):
    path, _, _ = nerf_file
    bad = _rewrite(path, tmp_path, "shape.safetensors", {"layers.2.weight": torch.zeros(64, 32)})
    with pytest.raises(NerfFileError, match=r"layers.2.weight has shape \(64, 32\).*\(64, 64\)"):
        load_nerf(bad)
    bad = _rewrite(path, tmp_path, "dtype.safetensors",
                   {"layers.0.weight": torch.zeros(64, 144, dtype=torch.float64)})
    with pytest.raises(NerfFileError, match="float64, expected float32"):
        load_nerf(bad)
    bad = _rewrite(path, tmp_path, "occ.safetensors", {"occupancy": torch.zeros(7, dtype=torch.uint8)})
    with pytest.raises(NerfFileError, match="occupancy"):
        load_nerf(bad)


def test_wrong_architecture_refused_with_expected_named(tmp_path):
    cfg = NerfConfig(hidden=32, n_freqs=10)
    path = save_nerf(tmp_path / "small.safetensors", NerfField(cfg), cfg, None, {})
    assert load_nerf(path).config == cfg  # readable on its own
    with pytest.raises(NerfFileError, match=r"architecture is .*10 freqs.*3x32.*expected "
                                            r".*24 freqs -> 3x64"):
        load_nerf(path, expected_config=NerfConfig())


def test_wrong_format_or_newer_version_refused(nerf_file, tmp_path):
    path, _, _ = nerf_file
    bad = _rewrite(path, tmp_path, "v9.safetensors", header={"format_version": "9"})
    with pytest.raises(NerfFileError, match="format version 9 is not supported"):
        load_nerf(bad)
    bad = _rewrite(path, tmp_path, "fmt.safetensors", header={"format": "something-else"})
    with pytest.raises(NerfFileError, match="format is 'something-else'"):
        load_nerf(bad)
    bad = _rewrite(path, tmp_path, "cfg.safetensors",
                   header={"config": json.dumps({"n_freqs": 24, "bogus": 1})})
    with pytest.raises(NerfFileError, match="bad config"):
        load_nerf(bad)
