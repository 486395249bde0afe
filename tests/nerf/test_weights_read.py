"""load_nerf_weights (the batched classify path's reader) against load_nerf: the same weight
values, and the same NerfFileError message for every kind of bad file."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.field import NerfField
from clip2nerf.nerf.io import NerfFileError, load_nerf, load_nerf_weights, save_nerf
from clip2nerf.nerf.occupancy import OccupancyGrid


@pytest.fixture
def good(tmp_path):
    torch.manual_seed(0)
    cfg = NerfConfig()
    grid = OccupancyGrid(torch.rand(16, 16, 16) > 0.5, torch.tensor([-.7] * 3 + [.7] * 3))
    return save_nerf(tmp_path / "good.safetensors", NerfField(cfg), cfg, grid,
                     {"object_id": "chair_0001", "class_name": "chair"},
                     output_padding=torch.randn(12, cfg.hidden))


def _rewrite(path, out, tensors=None, header=None, drop=()):
    with safe_open(str(path), "pt") as fh:
        meta = dict(fh.metadata())
    t = {k: v for k, v in load_file(str(path)).items() if k not in drop}
    t.update(tensors or {})
    meta.update(header or {})
    save_file(t, str(out), metadata=meta)
    return out


def test_same_values_as_load_nerf(good):
    ref = load_nerf(good, NerfConfig(), occupancy=False)
    got = load_nerf_weights(good, NerfConfig())
    assert (got.object_id, got.class_name, got.meta, got.config) == (
        ref.object_id, ref.class_name, ref.meta, ref.config)
    for i, w in enumerate(got.weights):
        assert w.dtype == np.float32
        assert np.array_equal(w, ref.state_dict[f"layers.{i}.weight"].numpy())
    assert np.array_equal(got.output_padding, ref.output_padding.numpy())


def _bad_files(good, d):
    nan = load_file(str(good))["layers.1.weight"].clone()
    nan[3, 4] = float("nan")
    data = good.read_bytes()
    (d / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    (d / "junk.safetensors").write_bytes(b"\x00" * 100)
    small = NerfConfig(hidden=32, n_freqs=10)
    return [
        d / "missing.safetensors", d / "trunc.safetensors", d / "junk.safetensors",
        save_nerf(d / "arch.safetensors", NerfField(small), small, None, {}),
        _rewrite(good, d / "nan.safetensors", {"layers.1.weight": nan}),
        _rewrite(good, d / "shape.safetensors", {"layers.2.weight": torch.zeros(64, 32)}),
        _rewrite(good, d / "f64.safetensors", {"layers.0.weight": torch.zeros(64, 144).double()}),
        _rewrite(good, d / "bf16.safetensors",
                 {"layers.0.weight": torch.zeros(64, 144, dtype=torch.bfloat16)}),
        _rewrite(good, d / "missing_layer.safetensors", drop=("layers.3.weight",)),
        _rewrite(good, d / "occ.safetensors", {"occupancy": torch.zeros(7, dtype=torch.uint8)}),
        _rewrite(good, d / "pad.safetensors", {"output_padding": torch.zeros(3, 64)}),
        _rewrite(good, d / "v9.safetensors", header={"format_version": "9"}),
        _rewrite(good, d / "fmt.safetensors", header={"format": "other"}),
        _rewrite(good, d / "cfg.safetensors", header={"config": json.dumps({"bogus": 1})}),
        _rewrite(good, d / "meta.safetensors", header={"meta": "[1, 2]"}),
    ]


def test_every_bad_file_gives_load_nerfs_error(good, tmp_path):
    bad = _bad_files(good, tmp_path)
    for path in bad:
        with pytest.raises(NerfFileError) as ref:
            load_nerf(path, NerfConfig(), occupancy=False)
        with pytest.raises(NerfFileError) as got:
            load_nerf_weights(path, NerfConfig())
        assert str(got.value) == str(ref.value), path.name


def test_read_weight_matrices_equal_load_nerf_set(good, tmp_path):
    from clip2nerf.nf2vec.nerfs import load_nerf_set, read_weight_matrices

    torch.manual_seed(1)
    cfg = NerfConfig()
    files = [good] + [save_nerf(tmp_path / f"n{i}.safetensors", NerfField(cfg), cfg, None,
                                {"object_id": f"o{i}", "class_name": "lamp"}) for i in range(3)]
    for padding in (False, True):
        ref = load_nerf_set(tmp_path, cfg, output_padding=padding)
        order = [ref.paths.index(str(f)) for f in files]
        for workers in (1, 3):
            got = read_weight_matrices(files, cfg, workers=workers, output_padding=padding)
            assert torch.equal(got.matrices, ref.matrices[order])
            assert got.ids == [ref.ids[i] for i in order]
            assert got.classes == [ref.classes[i] for i in order]
