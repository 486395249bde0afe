"""Reader errors name the object and the file; ``skip_broken`` warns and skips."""

from __future__ import annotations

import shutil

import pytest

from clip2nerf.data.dataset import DatasetError
from clip2nerf.data.layouts import open_dataset
from clip2nerf.data.synth import SynthConfig, generate_dataset


@pytest.fixture
def ds_path(tmp_path):
    cfg = SynthConfig(classes=("table",), per_class=3, views=2, res=16, supersample=1)
    generate_dataset(tmp_path / "ds", cfg, progress=False)
    return tmp_path / "ds"


def test_missing_view(ds_path):
    (ds_path / "objects/table_0001/views/01.png").unlink()
    rec = open_dataset(ds_path).get("table_0001")
    rec.load_view(0)
    with pytest.raises(DatasetError, match=r"table_0001.*missing file .*views/01\.png"):
        rec.load_view(1)


def test_corrupt_view_and_depth(ds_path):
    (ds_path / "objects/table_0000/views/00.png").write_bytes(b"\x89PNG garbage")
    (ds_path / "objects/table_0000/depth/01.png").write_bytes(b"")
    rec = open_dataset(ds_path).get("table_0000")
    with pytest.raises(DatasetError, match=r"table_0000.*corrupt image .*views/00\.png"):
        rec.load_view(0)
    with pytest.raises(DatasetError, match=r"table_0000.*depth/01\.png"):
        rec.load_depth(1)


def test_corrupt_json_and_skip_broken(ds_path):
    (ds_path / "objects/table_0002/transforms.json").write_text("{not json")
    shutil.rmtree(ds_path / "objects/table_0001")
    (ds_path / "objects/table_0001").mkdir()  # folder without files
    ds = open_dataset(ds_path)
    with pytest.raises(DatasetError, match=r"table_0002.*transforms\.json"):
        ds.get("table_0002")
    with pytest.raises(DatasetError, match=r"table_0001.*meta\.json"):
        list(ds.iter_objects())
    with pytest.warns(UserWarning, match="skipping broken object"):
        ok = [r.object_id for r in ds.iter_objects(skip_broken=True)]
    assert ok == ["table_0000"]


def test_dataset_without_dataset_json_is_not_mistaken_for_a_render_tree(ds_path):
    (ds_path / "dataset.json").unlink()
    with pytest.raises(DatasetError, match="no dataset.json"):
        open_dataset(ds_path)
