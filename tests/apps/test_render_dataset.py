"""clip2nerf.nerf.render_dataset: a dataset's views rendered from its NeRFs, in dataset format."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_world import as_render_tree

from clip2nerf.cli.main import main
from clip2nerf.data.layouts import open_dataset
from clip2nerf.errors import UserError
from clip2nerf.nerf import load_nerf
from clip2nerf.nerf.render_dataset import render_dataset, render_object_views


def test_rendered_dataset_reads_like_the_source(world, tmp_path):
    src = open_dataset(world["data"])
    ids = src.object_ids("test")
    out = render_dataset(world["nerfs"], world["data"], tmp_path / "r", ids=ids, n_samples=16,
                         progress=False)
    ds = open_dataset(out)
    assert ds.object_ids() == ids and ds.object_ids("test") == ids
    assert ds.name.endswith("-rendered") and ds.classes == src.classes
    rec, orig = ds.get(ids[0]), src.get(ids[0])
    assert rec.class_name == orig.class_name and rec.caption == orig.caption
    assert np.allclose(rec.poses(), orig.poses())
    views = rec.load_views()
    assert views.shape == orig.load_views().shape
    # The files hold exactly what rendering the NeRF at those cameras gives.
    direct = render_object_views(load_nerf(world["nerfs"] / f"{ids[0]}.safetensors"),
                                 orig.poses()[:1], orig.intrinsics, 16)
    assert np.abs(views[0].astype(int) - direct[0].astype(int)).max() <= 1


def test_resume_skips_finished_objects(world, tmp_path):
    ids = open_dataset(world["data"]).object_ids("val")[:2]
    out = render_dataset(world["nerfs"], world["data"], tmp_path / "r", ids=ids, n_samples=8,
                         progress=False)
    marker = out / "objects" / ids[0] / "views"
    stamp = sorted(marker.iterdir())[0].stat().st_mtime_ns
    render_dataset(world["nerfs"], world["data"], out, ids=ids, n_samples=8, progress=False)
    assert sorted(marker.iterdir())[0].stat().st_mtime_ns == stamp


def test_missing_nerfs_are_named(world, tmp_path):
    empty = tmp_path / "none"
    empty.mkdir()
    with pytest.raises(UserError, match="no NeRF for"):
        render_dataset(empty, world["data"], tmp_path / "r", progress=False)


def test_cli(world, tmp_path, capsys):
    rc = main(["render-views", "--nerfs", str(world["nerfs"]), "--data", str(world["data"]),
               "--out", str(tmp_path / "r"), "--split", "test", "--samples", "8", "--res", "12",
               "--quiet", "--device", "cpu"])
    assert rc == 0 and "4 objects" in capsys.readouterr().out
    rec = open_dataset(tmp_path / "r").get(open_dataset(world["data"]).object_ids("test")[0])
    assert rec.load_views().shape[1:] == (12, 12, 4)


def test_render_tree_source_keeps_its_splits(world, tmp_path):
    """A ShapeNetRender / nf2vec tree as the source: the rendered folder is a clip2nerf
    dataset (not a copy of the tree's format tag) with the tree's own splits, filtered to
    the rendered objects."""
    src = open_dataset(world["data"])
    by_split = {s: src.object_ids(s)[:2] for s in ("train", "val", "test")}
    tree = as_render_tree(world["data"], tmp_path / "tree", by_split)
    assert open_dataset(tree).info["format"] == "shapenet-render"
    ids = by_split["val"] + by_split["test"]
    out = render_dataset(world["nerfs"], tree, tmp_path / "r", ids=ids, resolution=8,
                         n_samples=4, progress=False)
    ds = open_dataset(out)
    assert ds.info["format"] == "clip2nerf-dataset"
    assert sorted(ds.object_ids()) == sorted(ids)
    for split in ("val", "test"):
        assert ds.object_ids(split) == open_dataset(tree).object_ids(split) == by_split[split]
    # the train objects were not rendered: the rendered folder's train split does not name them
    assert ds.object_ids("train") == []
    assert ds.get(ids[0]).load_views().shape[1:] == (8, 8, 4)
