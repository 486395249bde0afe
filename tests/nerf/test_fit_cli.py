"""Fitting quality floor, `clip2nerf fit` (manifest, resume after interruption), `render`."""

import json

import pytest
import torch
from PIL import Image

from clip2nerf.cli.main import main
from clip2nerf.data.layouts import open_dataset
from clip2nerf.nerf import runner
from clip2nerf.nerf.fit import FitConfig, fit_object, load_object_views, psnr, split_views
from clip2nerf.nerf.io import load_nerf

FAST = ["--steps", "15", "--rays", "256", "--holdout", "2"]


@pytest.mark.slow
def test_tiny_object_fits_above_psnr_floor(toy_dataset):
    torch.set_num_threads(1)
    rec = open_dataset(toy_dataset).get("obj000")
    cfg = FitConfig(steps=120, rays_per_step=512, lr=0.02)
    res = fit_object(rec, fit_config=cfg)
    # Baseline: predicting the background everywhere on the same held-out views.
    views = load_object_views(rec, 1.0, True)
    _, held = split_views(rec.n_views, cfg.holdout_views)
    bg_only = psnr(float((views.images[held] - 1.0).pow(2).mean()))
    # Measured over fit seeds 0-3 (a larger change than another CPU's rounding): 19.1-21.0 dB
    # whole image, 16.7-17.0 dB object pixels.
    assert res.stats["psnr"] > max(18.0, bg_only + 5.0), (res.stats, bg_only)
    assert res.stats["psnr_object"] > 14.0, res.stats
    assert res.stats["heldout_views"] == held and res.stats["train_views"] == rec.n_views - len(held)


def run(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr()


def test_fit_writes_files_manifest_and_skips_on_rerun(toy_dataset, tmp_path, capsys):
    out = tmp_path / "nerfs"
    code, cap = run(["fit", "--data", str(toy_dataset), "--out", str(out), "--quiet", *FAST],
                    capsys)
    assert code == 0, cap.err
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "obj000.safetensors",
                                                      "obj001.safetensors"]
    man = json.loads((out / "manifest.json").read_text())
    assert set(man["objects"]) == {"obj000", "obj001"}
    for oid, e in man["objects"].items():
        assert e["steps"] == 15 and e["class_name"] == "toy" and e["fit_seconds"] > 0
        assert 0 < e["psnr"] < 100 and 0 < e["psnr_object"] < 100
        nf = load_nerf(out / e["file"])
        assert nf.object_id == oid and nf.occupancy is not None
    assert man["summary"]["n_objects"] == 2
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")}
    code, cap = run(["fit", "--data", str(toy_dataset), "--out", str(out), "--quiet", *FAST],
                    capsys)
    assert code == 0 and "0 fitted, 2 already there" in cap.out
    assert mtimes == {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")}


def test_resume_after_interruption(toy_dataset, tmp_path, capsys, monkeypatch):
    out = tmp_path / "nerfs"
    real = runner.fit_and_save
    calls = []

    def dies_on_second(data_root, oid, out_dir, *args):
        calls.append(oid)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-fit
        return real(data_root, oid, out_dir, *args)

    monkeypatch.setattr(runner, "fit_and_save", dies_on_second)
    code, cap = run(["fit", "--data", str(toy_dataset), "--out", str(out), "--quiet", *FAST],
                    capsys)
    assert code == 130
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "obj000.safetensors"]
    first = (out / "obj000.safetensors").read_bytes()
    monkeypatch.setattr(runner, "fit_and_save", real)
    code, cap = run(["fit", "--data", str(toy_dataset), "--out", str(out), "--quiet", *FAST],
                    capsys)
    assert code == 0 and "1 fitted, 1 already there" in cap.out
    assert (out / "obj000.safetensors").read_bytes() == first
    clean = tmp_path / "clean"
    assert run(["fit", "--data", str(toy_dataset), "--out", str(clean), "--quiet", *FAST],
               capsys)[0] == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in clean.iterdir())
    # Same seed, same device: the resumed run's NeRFs equal an uninterrupted run's.
    for name in ("obj000.safetensors", "obj001.safetensors"):
        a, b = load_nerf(out / name), load_nerf(clean / name)
        for k in a.state_dict:
            assert torch.equal(a.state_dict[k], b.state_dict[k])
    man = json.loads((out / "manifest.json").read_text())
    assert set(man["objects"]) == {"obj000", "obj001"}


def test_corrupt_nerf_in_output_is_refitted(toy_dataset, tmp_path, capsys):
    out = tmp_path / "nerfs"
    out.mkdir()
    (out / "obj001.safetensors").write_bytes(b"not a nerf")
    with pytest.warns(UserWarning, match="refitting.*obj001"):
        code, cap = run(["fit", "--data", str(toy_dataset), "--out", str(out), "--quiet",
                         "--objects", "obj001", *FAST], capsys)
    assert code == 0, cap.err
    assert load_nerf(out / "obj001.safetensors").object_id == "obj001"


def test_fit_option_errors(toy_dataset, tmp_path, capsys):
    out = str(tmp_path / "n")
    code, cap = run(["fit", "--data", str(toy_dataset), "--out", out, "--objects", "nope"],
                    capsys)
    assert code == 2 and "--objects: not in" in cap.err and "nope" in cap.err
    code, cap = run(["fit", "--data", str(tmp_path / "missing"), "--out", out], capsys)
    assert code == 2 and "--data" in cap.err
    code, cap = run(["fit", "--data", str(toy_dataset), "--out", out, "--steps", "0"], capsys)
    assert code == 2 and "--steps" in cap.err
    assert run(["fit", "--data", str(toy_dataset), "--out", out, "--quiet", "--objects",
                "obj000", *FAST], capsys)[0] == 0
    code, cap = run(["fit", "--data", str(toy_dataset), "--out", out, "--objects", "obj001",
                     "--steps", "16", "--rays", "256", "--holdout", "2"], capsys)
    assert code == 2 and "another fit config" in cap.err and "--overwrite" in cap.err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_device_cuda_without_cuda_is_a_clear_error(toy_dataset, tmp_path, capsys):
    code, cap = run(["fit", "--data", str(toy_dataset), "--out", str(tmp_path / "n"),
                     "--device", "cuda"], capsys)
    assert code == 2 and "CUDA is not available" in cap.err
    assert not (tmp_path / "n").exists()


def test_render_grid_png(toy_dataset, tmp_path, capsys):
    out = tmp_path / "nerfs"
    assert run(["fit", "--data", str(toy_dataset), "--out", str(out), "--quiet",
                "--objects", "obj000", *FAST], capsys)[0] == 0
    png = tmp_path / "views.png"
    code, cap = run(["render", str(out / "obj000.safetensors"), "--out", str(png),
                     "--views", "3", "--res", "24"], capsys)
    assert code == 0, cap.err
    with Image.open(png) as im:
        assert im.width >= 3 * 24 and 24 <= im.height < 2 * 24
    code, cap = run(["render", str(out / "obj000.safetensors"), "--out", str(png),
                     "--views", "2", "--res", "20", "--data", str(toy_dataset)], capsys)
    assert code == 0 and "ground truth" in cap.out
    with Image.open(png) as im:
        assert im.height >= 2 * 20  # NeRF row + ground-truth row
    code, cap = run(["render", str(tmp_path / "nope.safetensors"), "--out", str(png)], capsys)
    assert code == 2 and "not found" in cap.err


def test_fit_leaves_the_callers_rng_alone_and_repeats_by_seed(toy_dataset):
    rec = open_dataset(toy_dataset).get("obj000")
    cfg = FitConfig(steps=4, rays_per_step=64)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    a = fit_object(rec, fit_config=cfg)
    assert torch.equal(torch.rand(3), expected)
    b = fit_object(rec, fit_config=cfg)
    for (k, x), y in zip(a.field.state_dict().items(), b.field.state_dict().values(), strict=True):
        assert torch.equal(x, y), k


@pytest.mark.gpu
def test_tiny_object_fits_on_cuda_as_on_cpu(toy_dataset):
    """The same fit on the GPU reaches the CPU fit's quality. Not bit-equal: CUDA kernels sum in
    another order and that grows through training, so it is held to the floor the CPU test
    uses and to within 2 dB of the CPU run's held-out PSNR."""
    rec = open_dataset(toy_dataset).get("obj000")
    cfg = FitConfig(steps=120, rays_per_step=512, lr=0.02)
    cpu = fit_object(rec, fit_config=cfg, device="cpu")
    gpu = fit_object(rec, fit_config=cfg, device="cuda")
    assert next(gpu.field.parameters()).device.type == "cpu"  # results come back to the host
    assert gpu.stats["psnr"] > 18.0, gpu.stats
    assert abs(gpu.stats["psnr"] - cpu.stats["psnr"]) < 2.0, (gpu.stats, cpu.stats)
