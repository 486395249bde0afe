"""nf2vec NeRF trees: tiny-cuda-nn flat weights + nerfacc grids <-> our NeRF files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from clip2nerf.errors import UserError
from clip2nerf.interop.nerf_tree import export_nerfs, import_tree
from clip2nerf.interop.nerfacc import grid_from_state, grid_to_state
from clip2nerf.interop.tcnn import flat_to_state_dict, state_dict_to_flat, tcnn_n_params
from clip2nerf.nerf import NerfConfig, load_nerf, orbit_cameras, render_image
from clip2nerf.nerf.encoding import frequency_encode
from clip2nerf.nerf.rays import default_intrinsics


def tcnn_frequency_feature(u: torch.Tensor, j: int, n_freqs: int) -> torch.Tensor:
    """Feature ``j`` as tiny-cuda-nn's ``frequency_encoding`` kernel computes it (frequency.h):
    input dim ``j / (2F)``, log2 frequency ``(j / 2) % F``, phase ``(j % 2) · π/2``."""
    dim, k, phase = j // (2 * n_freqs), (j // 2) % n_freqs, (j % 2) * math.pi / 2
    return torch.sin(u[:, dim].double() * (2.0**k) * math.pi + phase)


def tcnn_forward(flat: torch.Tensor, xyz: torch.Tensor, cfg: NerfConfig) -> torch.Tensor:
    """A NetworkWithInputEncoding forward written from the tcnn layout alone (float64)."""
    lo, hi = (torch.tensor(v, dtype=torch.float64) for v in cfg.aabb)
    u = (xyz.double() - lo) / (hi - lo)
    feats = torch.stack([tcnn_frequency_feature(u, j, cfg.n_freqs) for j in range(cfg.in_dim)],
                        dim=-1)
    shapes = [(64, 144), (64, 64), (64, 64), (16, 64)]
    h, start = feats, 0
    for i, (r, c) in enumerate(shapes):
        w = flat[start:start + r * c].double().reshape(r, c)  # row-major (out, in)
        start += r * c
        h = h @ w.T
        if i < len(shapes) - 1:
            h = torch.relu(h)
    return h[:, :4]


def test_frequency_order_matches_tcnn():
    u = torch.rand(50, 3, dtype=torch.float64)
    ours = frequency_encode(u, 24)
    for j in range(144):
        assert torch.allclose(ours[:, j], tcnn_frequency_feature(u, j, 24), atol=1e-9), j


def test_flat_params_give_the_same_network(fitted_nerf):
    nf = load_nerf(fitted_nerf)
    pad = torch.randn(12, 64)  # tcnn's untrained padded output rows
    flat = state_dict_to_flat(nf.state_dict, nf.config, pad)
    assert flat.numel() == tcnn_n_params(nf.config) == 18432
    xyz = torch.rand(300, 3) * 1.4 - 0.7
    ref = tcnn_forward(flat, xyz, nf.config)
    sd, pad_back = flat_to_state_dict(flat, nf.config)
    ours = nf.field.__class__(nf.config)
    ours.load_state_dict(sd)
    with torch.no_grad():
        got = ours.raw(xyz).double()
    assert torch.allclose(got, ref, atol=1e-4 * ref.abs().max().item())
    assert torch.equal(pad_back, pad)


def test_flat_params_refused_when_wrong():
    cfg = NerfConfig()
    with pytest.raises(UserError, match="18432"):
        flat_to_state_dict(torch.zeros(100), cfg)
    bad = torch.zeros(18432)
    bad[5] = float("nan")
    with pytest.raises(UserError, match="NaN"):
        flat_to_state_dict(bad, cfg)


def test_grid_state_round_trip_and_sparse():
    cfg = NerfConfig()
    aabb = torch.tensor([-0.7] * 3 + [0.7] * 3)
    binary = torch.rand(12, 12, 12) > 0.7
    from clip2nerf.nerf import OccupancyGrid

    state = grid_to_state(OccupancyGrid(binary, aabb))
    assert torch.equal(grid_from_state(state, aabb).binary, binary)
    # nf2vec's files hold _binary as a sparse tensor and may drop the helper buffers.
    sparse = {"_roi_aabb": aabb, "_binary": binary.to_sparse()}
    assert torch.equal(grid_from_state(sparse, aabb).binary, binary)
    with pytest.raises(UserError, match="differs"):
        grid_from_state(state, aabb * 2)
    assert cfg.aabb[0][0] == -0.7


def write_reference_tree(root, nf, half=False, pad=None, gz=False):
    """One object of the gmnerf layout, written with plain torch.save as the reference does."""
    obj = root / "nerf" / "shapenet" / "mlp" / "02691156" / "abc123"
    obj.mkdir(parents=True)
    flat = state_dict_to_flat(nf.state_dict, nf.config, pad,
                              torch.float16 if half else torch.float32)
    torch.save({"mlp_base.params": flat}, obj / "nerf_weights.pth")
    state = {"_roi_aabb": nf.aabb, "_binary": nf.occupancy.binary.to_sparse()}
    if gz:
        import gzip
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        (obj / "grid.pth.gz").write_bytes(gzip.compress(buf.getvalue()))
    else:
        torch.save(state, obj / "grid.pth")
    (root / "nerf" / "shapenet" / "test.txt").write_text("02691156/abc123\n")
    return obj


def render(nf, res=40):
    intr = default_intrinsics(res, fov_deg=40.0)
    poses = orbit_cameras(3, 2.0, 25.0)
    return torch.stack([render_image(nf.field, intr, p, nf.aabb, nf.occupancy, n_samples=96)
                        for p in poses])


def psnr(a, b):
    mse = float(((a[..., :3] - b[..., :3]) ** 2).mean())
    return math.inf if mse == 0 else -10 * math.log10(mse)


@pytest.mark.parametrize("half", [False, True])
def test_import_renders_like_the_original(fitted_nerf, tmp_path, half, record_property):
    nf = load_nerf(fitted_nerf)
    write_reference_tree(tmp_path / "gm", nf, half=half, gz=half)
    entries = import_tree(tmp_path / "gm", tmp_path / "out")
    assert list(entries) == ["airplane_abc123"]
    assert entries["airplane_abc123"]["split"] == "test"
    got = load_nerf(tmp_path / "out" / "airplane_abc123.safetensors")
    assert got.class_name == "airplane" and got.meta["source_dtype"] == (
        "float16" if half else "float32")
    assert torch.equal(got.occupancy.binary, nf.occupancy.binary)
    with torch.no_grad():
        a, b = render(nf), render(got)
    value = psnr(a, b)
    record_property("psnr_db", value)
    print(f"half={half}: PSNR of the imported NeRF's renders vs the original: {value:.2f} dB")
    assert value >= 40.0
    if not half:
        assert value == math.inf  # float32 weights convert exactly


def test_import_resumes_and_refuses_pickled_code(fitted_nerf, tmp_path):
    nf = load_nerf(fitted_nerf)
    obj = write_reference_tree(tmp_path / "gm", nf)
    import_tree(tmp_path / "gm", tmp_path / "out")
    out_file = tmp_path / "out" / "airplane_abc123.safetensors"
    mtime = out_file.stat().st_mtime_ns
    import_tree(tmp_path / "gm", tmp_path / "out")  # resume: nothing rewritten
    assert out_file.stat().st_mtime_ns == mtime
    torch.save({"mlp_base.params": np.zeros(3)}, obj / "nerf_weights.pth")  # a numpy object
    with pytest.raises(UserError, match="refused"):
        import_tree(tmp_path / "gm", tmp_path / "out2")


def test_export_then_import_is_identity(fitted_nerf, tmp_path):
    nf = load_nerf(fitted_nerf)
    export_nerfs([fitted_nerf], tmp_path / "tree")
    entries = import_tree(tmp_path / "tree", tmp_path / "back")
    (oid,) = entries
    assert oid == nf.object_id
    back = load_nerf(tmp_path / "back" / f"{oid}.safetensors")
    assert back.class_name == nf.class_name and back.meta["split"] == nf.meta["split"]
    assert back.config == nf.config
    for k, v in nf.state_dict.items():
        assert torch.equal(back.state_dict[k], v), k
    assert torch.equal(back.occupancy.binary, nf.occupancy.binary)
    # The exported grid loads into nerfacc 0.3.x's buffers (names and shapes).
    state = torch.load(next((tmp_path / "tree").glob("*/*/grid.pth")), weights_only=True)
    r = nf.occupancy.resolution
    assert state["_binary"].shape == (r, r, r) and state["occs"].shape == (r**3,)
    assert state["grid_coords"].shape == (r**3, 3) and state["resolution"].tolist() == [r] * 3


def test_ids_from_a_tree_cannot_leave_the_output_folder(fitted_nerf, tmp_path):
    """A sidecar file names the object id, and the id names a file under --out: a path trick
    there is refused before anything is written."""
    nf = load_nerf(fitted_nerf)
    obj = write_reference_tree(tmp_path / "gm", nf)
    (obj / "clip2nerf.json").write_text(json.dumps({"object_id": "../../escaped"}))
    with pytest.raises(UserError, match="not a plain folder name"):
        import_tree(tmp_path / "gm", tmp_path / "deep" / "out")
    assert not list(tmp_path.rglob("escaped*"))


def test_weights_only_reads_keep_the_tcnn_padding(fitted_nerf, tmp_path):
    """classify / describe / the service read weights without the grid; for an encoder of the
    reference layout they must put the imported padding rows where nf2vec embed does."""
    from clip2nerf.nf2vec.nerfs import load_nerf_set, read_weight_matrices

    nf = load_nerf(fitted_nerf)
    pad = torch.randn(12, nf.config.hidden)
    write_reference_tree(tmp_path / "gm", nf, pad=pad)
    import_tree(tmp_path / "gm", tmp_path / "out")
    files = sorted((tmp_path / "out").glob("*.safetensors"))
    full = load_nerf_set(files[0], output_padding=True).matrices
    assert full.abs().sum() > load_nerf_set(files[0]).matrices.abs().sum()  # the rows are there
    for workers in (1, 2):
        got = read_weight_matrices(files, workers=workers, output_padding=True).matrices
        torch.testing.assert_close(got, full, rtol=0, atol=0)  # the same bytes, copied
