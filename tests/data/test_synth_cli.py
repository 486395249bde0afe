"""``clip2nerf synth`` from the command line: output, preview, one-line errors."""

from __future__ import annotations

import pytest

from clip2nerf.cli.main import main
from clip2nerf.data.layouts import open_dataset


def _run(capsys, *args):
    code = main(["synth", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_small_run_with_preview(tmp_path, capsys):
    out, sheet = tmp_path / "ds", tmp_path / "sheet.png"
    code, stdout, _ = _run(capsys, "--classes", "chair,lamp", "--classes", "rifle", "--per-class", "2",
                           "--views", "3", "--res", "24", "--supersample", "1", "--out", str(out),
                           "--preview", str(sheet), "--quiet")
    assert code == 0
    assert "wrote 6 objects (3 classes x 2)" in stdout and "contact sheet" in stdout
    ds = open_dataset(out)
    assert ds.classes == ["chair", "lamp", "rifle"] and ds.get("rifle_0001").n_views == 3
    from PIL import Image

    with Image.open(sheet) as im:
        assert im.width > 2 * 120 and im.height > 3 * 120  # 3 rows x 2 tiles, 24 px shown 5x


def test_rerun_is_a_no_op_other_options_refused_then_overwrite(tmp_path, capsys):
    args = ("--classes", "phone", "--views", "2", "--res", "16", "--out", str(tmp_path / "ds"), "--quiet")
    assert _run(capsys, *args, "--per-class", "1")[0] == 0
    code, stdout, _ = _run(capsys, *args, "--per-class", "1")
    assert code == 0 and "nothing to do" in stdout
    code, _, err = _run(capsys, *args, "--per-class", "2")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: --out") and "--overwrite" in err
    assert _run(capsys, *args, "--per-class", "2", "--overwrite")[0] == 0
    assert len(open_dataset(tmp_path / "ds")) == 2


@pytest.mark.parametrize("args,option", [
    (["--per-class", "-1"], "--per-class"),
    (["--per-class", "0"], "--per-class"),
    (["--classes", "chair,unicorn"], "--classes"),
    (["--res", "0"], "--res"),
    (["--views", "-3"], "--views"),
    (["--preset", "huge"], "--preset"),
    (["--workers", "0"], "--workers"),
    (["--res", "abc"], "--res"),
    (["--preview", "sheet.jpg"], "--preview"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, args, option):
    code, stdout, err = _run(capsys, *args, "--out", str(tmp_path / "ds"), "--quiet")
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("error:") and option in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_unwritable_out_is_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, _, err = _run(capsys, "--classes", "car", "--per-class", "1", "--out", str(blocker / "ds"), "--quiet")
    assert code == 2 and err.strip().count("\n") == 0 and err.startswith("error: --out")


@pytest.mark.slow
def test_tiny_preset(tmp_path, capsys):
    """The preset the end-to-end tests use: 13 classes x 6 objects, 12 views at 128 px (the
    VLM's size; NeRFs are fitted to their 2x2 box downsample)."""
    code, stdout, _ = _run(capsys, "--preset", "tiny", "--out", str(tmp_path / "tiny"), "--quiet",
                           "--workers", "2")
    assert code == 0
    ds = open_dataset(tmp_path / "tiny")
    assert len(ds) == 78 and ds.info["preset"] == "tiny" and ds.info["res"] == 128
    assert ds.info["config"]["supersample"] == 1
    for split in ("train", "val", "test"):
        assert len({i.rsplit("_", 1)[0] for i in ds.object_ids(split)}) == 13
    rec = ds.get("watercraft_0002")
    assert rec.n_views == 12 and rec.load_view(11).shape == (128, 128, 4)
    assert rec.load_depth(11).shape == (128, 128)


@pytest.mark.parametrize("preset", ["tiny", "small", "bench"])
def test_presets_write_128_px_views_with_one_ray_per_pixel(preset, tmp_path, capsys):
    """Every preset's views are 128 px (an ImageNet image tower needs >= 128 px), rendered with
    one ray per pixel: the same rays as 64 px with 2x2 supersampling, whose box downsample
    ``clip2nerf fit`` fits at 64 px."""
    from clip2nerf.data.synth.presets import load_preset

    p = load_preset(preset)
    assert (p["res"], p["supersample"]) == (128, 1)
    out = tmp_path / preset
    code, stdout, _ = _run(capsys, "--preset", preset, "--classes", "chair", "--per-class", "1",
                           "--views", "2", "--out", str(out), "--quiet")
    assert code == 0 and "views each at 128x128" in stdout
    ds = open_dataset(out)
    assert ds.info["res"] == 128 and ds.info["config"]["supersample"] == 1
    rec = ds.get("chair_0000")
    assert rec.load_views().shape == (2, 128, 128, 4) and rec.intrinsics.width == 128
