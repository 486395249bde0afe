"""The cnn tower's on-the-fly photo backgrounds (prepare-offline --photo-backgrounds)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from clip2nerf.augment import backgrounds
from clip2nerf.cli.main import main
from clip2nerf.data.layouts import open_dataset
from clip2nerf.vlm.photo_train import PhotoBackgrounds


def test_recomposes_over_training_photos_only_and_deterministically(tiny_data, monkeypatch):
    pools = []
    real = backgrounds.photos

    def spy(pool):
        pools.append(pool)
        return real(pool)

    monkeypatch.setattr(backgrounds, "photos", spy)
    ds = open_dataset(tiny_data)
    ids = ds.object_ids("train")
    first = np.arange(len(ids)) * 5  # 4 clean views + 1 extra row per object
    bg = PhotoBackgrounds(ds, ids, first, 5 * len(ids), 32, prob=1.0)
    assert pools == ["train"]
    white = torch.full((len(first) * 5, 32, 32, 3), 255, dtype=torch.uint8)
    rows = torch.arange(len(white))
    a = bg.apply(white, rows, torch.Generator().manual_seed(3))
    b = bg.apply(white, rows, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    extra = (rows % 5 == 4).numpy()
    assert torch.equal(a[extra], white[extra])  # extra (already photo) rows untouched
    changed = (a[~extra] != 255).flatten(1).float().mean(1)
    assert bool((changed > 0.5).all())  # clean rows now stand on a photo
    none = PhotoBackgrounds(ds, ids, first, 5 * len(ids), 32, prob=0.0)
    assert torch.equal(none.apply(white, rows, torch.Generator().manual_seed(3)), white)


@pytest.mark.slow
def test_prepare_offline_photo_backgrounds_cli(tiny_data, tmp_path, capsys):
    base = ["vlm", "prepare-offline", "--data", str(tiny_data), "--epochs", "1",
            "--image-size", "32", "--device", "cpu", "--quiet"]
    assert main([*base, "--image-tower", "cnn", "--out", str(tmp_path / "plain")]) == 0
    assert main([*base, "--image-tower", "cnn", "--out", str(tmp_path / "bg"),
                 "--photo-backgrounds", "0.5", "--channels", "8,16"]) == 0
    plain = json.loads((tmp_path / "plain" / "config.json").read_text())
    bg = json.loads((tmp_path / "bg" / "config.json").read_text())
    assert "photo_backgrounds" not in plain["training"]["train"]  # old names unchanged
    assert bg["training"]["train"]["photo_backgrounds"] == 0.5
    assert plain["name"] != bg["name"]
    assert bg["model"]["channels"] == [8, 16]
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "knn"), "--photo-backgrounds", "0.5"]) == 2
    assert "--image-tower cnn" in capsys.readouterr().err
