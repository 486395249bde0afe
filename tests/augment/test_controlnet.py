"""ControlNet augmentation through the real diffusers pipeline, on tiny random weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from clip2nerf.augment.controlnet import CLASS_SCENES, depth_to_control
from clip2nerf.cli.main import main
from clip2nerf.data.layouts import open_dataset

try:
    import diffusers  # noqa: F401
except ImportError:  # a missing extra is a setup error, not a reason to skip
    pytest.fail("the diffusion extra is not installed: pip install -e '.[diffusion]'",
                pytrace=False)


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    from tiny_diffusion import make_tiny_controlnet_pipeline

    return make_tiny_controlnet_pipeline(tmp_path_factory.mktemp("tinysd"))


def test_depth_to_control_is_near_bright_background_black():
    depth = np.zeros((8, 8), np.float32)
    depth[2:6, 2:4] = 1.0  # near
    depth[2:6, 4:6] = 2.0  # far
    img = depth_to_control(depth, 8)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    assert img[0, 0, 0] == 0 and img[3, 2, 0] == 255 and 0 < img[3, 5, 0] < img[3, 2, 0]


def _cli(data, out, sd, cn, *extra):
    return main(["augment", "controlnet", "--data", str(data), "--out", str(out), "--sd-model",
                 str(sd), "--controlnet", str(cn), "--views-per-object", "3", "--steps", "2",
                 "--size", "32", "--batch-size", "2", "--device", "cpu", "--quiet", *extra])


@pytest.mark.slow
def test_controlnet_cli_generates_with_provenance_and_resumes(tiny_data, tiny_pipeline,
                                                              tmp_path, capsys):
    sd, cn = tiny_pipeline
    out = tmp_path / "cn"
    assert _cli(tiny_data, out, sd, cn) == 0
    src, aug = open_dataset(tiny_data), open_dataset(out)
    assert aug.object_ids("train") == src.object_ids("train")
    info = json.loads((out / "dataset.json").read_text())
    assert info["complete"] and info["augment"]["kind"] == "controlnet"
    assert info["augment"]["models"]["sd_model"] == str(sd.resolve())
    seeds = set()
    for oid in aug.object_ids():
        obj = aug.get(oid)
        views = obj.load_views()
        assert views.shape == (3, 32, 32, 4) and views[..., :3].std() > 0
        recs = obj.meta["augment"]["images"]
        assert len({r["source_view"] for r in recs}) == 3  # distinct views of the object
        for r in recs:
            assert r["prompt"].startswith(f"a photo of a {obj.class_name}, ")
            assert any(s in r["prompt"] for s in CLASS_SCENES[obj.class_name])
            assert r["controlnet"] == str(cn.resolve())
            seeds.add(r["seed"])
            control = np.asarray(Image.open(obj.root / "control" / f"{r['view']:02d}.png"))
            depth = src.get(oid).load_depth(r["source_view"])
            assert (control[..., 0] > 0).mean() == pytest.approx((depth > 0).mean(), abs=0.1)
    assert len(seeds) == 3 * len(aug.object_ids())
    # Deterministic by seed, whatever the batching (batch size is not a setting).
    again = tmp_path / "again"
    assert _cli(tiny_data, again, sd, cn, "--batch-size", "3") == 0
    for oid in aug.object_ids():
        a = aug.get(oid).load_views().astype(int)
        b = open_dataset(again).get(oid).load_views().astype(int)
        assert np.abs(a - b).max() <= 2
    # Resume: a rerun does nothing; other settings are refused.
    capsys.readouterr()
    assert _cli(tiny_data, out, sd, cn) == 0
    assert "0 augmented now, 6 already done" in capsys.readouterr().err
    assert _cli(tiny_data, out, sd, cn, "--seed", "1") == 2
    assert "other settings" in capsys.readouterr().err


def test_controlnet_refuses_missing_weights_without_hanging(tiny_data, tmp_path, capsys):
    assert main(["augment", "controlnet", "--data", str(tiny_data), "--out",
                 str(tmp_path / "x"), "--controlnet", "nobody-here/absent-controlnet",
                 "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--controlnet nobody-here/absent-controlnet" in err and "never downloads" in err
