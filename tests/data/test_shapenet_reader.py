"""The ShapeNetRender / nf2vec render-tree reader exposes the ``Dataset`` API."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from clip2nerf.data.dataset import DatasetError
from clip2nerf.data.layouts import open_dataset
from clip2nerf.data.shapenet import ShapeNetRenderDataset
from clip2nerf.data.synth import look_at


def _png(path, size=16, alpha=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size, size, 4 if alpha else 3), np.uint8)
    arr[4:12, 4:12] = 200
    Image.fromarray(arr).save(path)


def _nf2vec_object(folder, n=3, size=16):
    """nf2vec-style: transforms_train.json, extension-less ./train/N paths, camera_angle_x only."""
    frames = []
    for i in range(n):
        _png(folder / "train" / f"{i}.png", size)
        a = 2 * np.pi * i / n
        c2w = look_at(np.array([1.5 * np.cos(a), 1.5 * np.sin(a), 0.7]))
        frames.append({"file_path": f"./train/{i}", "transform_matrix": c2w.tolist()})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "transforms_train.json").write_text(json.dumps({"camera_angle_x": 0.8575560450553894,
                                                              "frames": frames}))


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "shapenet"
    for synset in ("03001627", "02691156"):
        for k in range(3):
            _nf2vec_object(root / synset / f"obj{k}abc")
    return root


def test_nf2vec_tree(tree):
    ds = open_dataset(tree)
    assert isinstance(ds, ShapeNetRenderDataset)
    assert ds.classes == ["airplane", "chair"] and len(ds) == 6
    rec = ds.get("chair_obj1abc")
    assert rec.class_name == "chair" and rec.n_views == 3
    assert rec.poses().shape == (3, 4, 4)
    assert rec.load_views().shape == (3, 16, 16, 4)
    assert np.isclose(rec.intrinsics.fx, 0.5 * 16 / np.tan(0.5 * 0.8575560450553894))
    with pytest.raises(DatasetError, match="no depth"):
        rec.load_depth(0)
    splits = {s: ds.object_ids(s) for s in ("train", "val", "test")}
    assert sorted(sum(splits.values(), [])) == ds.object_ids()
    assert all(len(v) == 2 for v in splits.values())  # stratified, one per class each


def test_nf2vec_split_files(tree):
    (tree / "train.json").write_text(json.dumps(["./data/data_TRAINED/03001627/obj0abc",
                                                 "./data/data_TRAINED/02691156/obj2abc"]))
    assert open_dataset(tree).object_ids("train") == ["chair_obj0abc", "airplane_obj2abc"]


def test_gmnerf_split_files(tree):
    # gmnerf: <data>/nerf/shapenet/{split}.txt beside the mlp folder, lines <synset>/<id>.
    (tree.parent / "test.txt").write_text("02691156/obj1abc\n03001627/obj2abc\n")
    (tree / "02691156" / "obj1abc" / "nerf_weights.pth").write_bytes(b"")  # ignored here
    ds = open_dataset(tree)
    assert ds.object_ids("test") == ["airplane_obj1abc", "chair_obj2abc"]
    assert len(ds.object_ids("train")) == 2  # no train.txt: the stratified split
    (tree.parent / "val.txt").write_text("unrelated/lines\n")  # matches nothing: not used
    assert len(ds.object_ids("val")) == 2


def test_compressed_cameras_only_named(tmp_path):
    root = tmp_path / "mlp"
    _nf2vec_object(root / "02691156" / "a")
    obj = root / "02691156" / "b"
    obj.mkdir()
    (obj / "transforms_train_compressed.json").write_text("{}")
    ds = open_dataset(root)
    with pytest.raises(DatasetError, match="compressed"):
        ds.get("airplane_b")


def test_views_only_tree(tmp_path):
    root = tmp_path / "r2n2"
    for i in range(3):
        _png(root / "lamp" / "abc" / "rendering" / f"{i:02d}.png", 20, alpha=False)
    rec = open_dataset(root).get("lamp_abc")
    assert rec.n_views == 3 and rec.load_view(2).shape == (20, 20, 4)
    assert rec.load_view(0)[..., 3].min() == 255  # RGB files get an opaque alpha
    with pytest.raises(DatasetError, match="lamp_abc.*no camera poses"):
        rec.poses()


def test_missing_and_corrupt_files_named(tree):
    (tree / "03001627/obj2abc/train/1.png").unlink()
    (tree / "02691156/obj0abc/transforms_train.json").write_text("[")
    ds = open_dataset(tree)
    with pytest.raises(DatasetError, match=r"chair_obj2abc.*missing file .*train/1\.png"):
        ds.get("chair_obj2abc").load_view(1)
    with pytest.raises(DatasetError, match=r"airplane_obj0abc.*transforms_train\.json"):
        ds.get("airplane_obj0abc")
    with pytest.warns(UserWarning, match="airplane_obj0abc"):
        assert len(list(ds.iter_objects(skip_broken=True))) == 5


def test_not_a_dataset(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a clip2nerf dataset"):
        open_dataset(tmp_path / "empty")


@pytest.mark.parametrize("content", ['{"train": []}', "[", "null"])
def test_nf2vec_split_file_not_a_list_is_named(tree, content):
    """Checked explicitly (not by ``assert``, which ``python -O`` drops)."""
    (tree / "train.json").write_text(content)
    with pytest.raises(DatasetError, match=r"train\.json: expected a JSON list"):
        open_dataset(tree).object_ids("train")
