"""The offline VLM's image tower trained with photo-style images of training objects."""

from __future__ import annotations

import json

import pytest

from clip2nerf.augment import augment_photo
from clip2nerf.cli.main import main


@pytest.mark.slow
def test_prepare_offline_with_photo_views(tiny_data, tmp_path, capsys):
    aug = augment_photo(tiny_data, tmp_path / "aug", views_per_object=2, progress=False,
                        log=lambda m: None)
    base = ["vlm", "prepare-offline", "--data", str(tiny_data), "--image-tower", "cnn",
            "--epochs", "1", "--image-size", "32", "--device", "cpu", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert main([*base, "--out", str(tmp_path / "photo"), "--extra-views", str(aug)]) == 0
    plain = json.loads((tmp_path / "plain" / "config.json").read_text())
    photo = json.loads((tmp_path / "photo" / "config.json").read_text())
    assert plain["name"] != photo["name"]  # another training set, another model name
    extra = photo["training"]["train"]["extra_views"]
    assert extra["n_objects"] == 6 and extra["name"].endswith("-photo-train")
    assert photo["training"]["dataset"]["extra_views_path"] == str(aug.resolve())
    # The knn tower's memory holds the photo images too: 6 train objects x (4 views + 2).
    assert main(["vlm", "prepare-offline", "--data", str(tiny_data), "--image-size", "32",
                 "--device", "cpu", "--quiet", "--out", str(tmp_path / "knn"),
                 "--extra-views", str(aug)]) == 0
    knn = json.loads((tmp_path / "knn" / "config.json").read_text())
    assert knn["model"]["bank_size"] == 6 * (4 + 2)
    # A held-out query set (val/test objects, held-out photos) is refused.
    query = augment_photo(tiny_data, tmp_path / "query", split="test", views_per_object=1,
                          progress=False, log=lambda m: None)
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "leak"), "--extra-views", str(query)]) == 2
    assert "held-out photos" in capsys.readouterr().err
