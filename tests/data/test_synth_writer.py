"""The dataset writer: format, determinism, splits, atomicity, resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from clip2nerf.data.dataset import DEFAULT_AABB
from clip2nerf.data.layouts import open_dataset
from clip2nerf.data.splits import split_counts, stratified_splits
from clip2nerf.data.synth import SynthConfig, generate_dataset
from clip2nerf.data.synth.writer import staging_dir
from clip2nerf.errors import UserError


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_format_read_back(small_dataset):
    ds = open_dataset(small_dataset)
    assert ds.classes == ["chair", "lamp", "car"] and len(ds) == 9
    info = ds.info
    assert info["seed"] == 3 and info["res"] == 32 and info["views"] == 6
    assert info["counts"]["objects"] == 9 and info["generator_version"] >= 1
    rec = ds.get("lamp_0002")
    assert rec.class_name == "lamp" and "lamp" in rec.caption
    assert set(rec.meta["colors"]) == set(rec.meta["parts"])
    assert rec.n_views == 6 and rec.poses().shape == (6, 4, 4)
    views = rec.load_views()
    assert views.shape == (6, 32, 32, 4) and views.dtype == np.uint8
    assert (views[..., 3] == 0).any() and (views[..., 3] == 255).any()  # transparent background
    depth = rec.load_depths()
    assert depth.shape == (6, 32, 32) and depth.dtype == np.float32
    assert np.array_equal(depth > 0, views[..., 3] > 0)
    assert rec.aabb == DEFAULT_AABB
    tf = json.loads((rec.root / "transforms.json").read_text())
    for key in ("camera_angle_x", "w", "h", "fl_x", "fl_y", "cx", "cy", "aabb", "depth_scale"):
        assert key in tf
    assert np.isclose(tf["fl_x"], 0.5 * 32 / np.tan(0.5 * tf["camera_angle_x"]))
    # cameras look at the object: the origin projects to the image centre
    for c2w in rec.poses():
        pc = -c2w[:3, :3].T @ c2w[:3, 3]
        assert np.allclose(pc[:2], 0, atol=1e-5) and pc[2] < 0


@pytest.mark.numerics  # compares views rendered by worker processes with this process's
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, small_dataset, small_cfg):
    again = tmp_path / "again"
    # Forked workers run the same numpy code on the same machine: the same bytes.
    generate_dataset(again, small_cfg, progress=False, workers=2)  # workers don't change bytes
    a, b = _tree_bytes(small_dataset), _tree_bytes(again)
    b_renamed = {k: v for k, v in b.items()}
    info_a = json.loads(a.pop("dataset.json"))
    info_b = json.loads(b_renamed.pop("dataset.json"))
    assert info_a.pop("name") == "small" and info_b.pop("name") == "again"
    assert info_a == info_b
    assert a == b_renamed
    other = tmp_path / "other"
    generate_dataset(other, replace(small_cfg, seed=4, classes=("chair",), per_class=1), progress=False)
    assert (other / "objects/chair_0000/views/00.png").read_bytes() != a["objects/chair_0000/views/00.png"]


def test_object_is_the_same_whatever_else_the_run_makes(tmp_path, small_dataset, small_cfg):
    out = tmp_path / "one"
    generate_dataset(out, replace(small_cfg, classes=("car",), per_class=2), progress=False)
    for f in ("meta.json", "transforms.json", "views/03.png", "depth/05.png"):
        assert (out / "objects/car_0001" / f).read_bytes() == (small_dataset / "objects/car_0001" / f).read_bytes()


def test_splits_disjoint_and_stratified(small_dataset):
    ds = open_dataset(small_dataset)
    splits = {s: ds.object_ids(s) for s in ("train", "val", "test")}
    all_ids = [i for v in splits.values() for i in v]
    assert sorted(all_ids) == ds.object_ids() and len(set(all_ids)) == len(all_ids)
    for ids in splits.values():  # 3 per class: every split gets one of each class
        assert sorted(i.rsplit("_", 1)[0] for i in ids) == ["car", "chair", "lamp"]


@pytest.mark.parametrize("n,expected", [(1, (1, 0, 0)), (2, (1, 1, 0)), (3, (1, 1, 1)),
                                        (8, (6, 1, 1)), (10, (8, 1, 1)), (40, (32, 4, 4))])
def test_split_counts(n, expected):
    assert split_counts(n, (0.8, 0.1, 0.1)) == expected


def test_stratified_splits_are_seeded_and_proportional():
    ids = {c: [f"{c}_{i:04d}" for i in range(40)] for c in ("a", "b")}
    s0, s1 = stratified_splits(ids, 0), stratified_splits(ids, 1)
    assert s0 == stratified_splits(ids, 0) and s0 != s1
    for c in ("a", "b"):
        assert [sum(i.startswith(c) for i in s0[s]) for s in ("train", "val", "test")] == [32, 4, 4]
    with pytest.raises(ValueError):
        stratified_splits(ids, 0, (0.5, 0.5, 0.5))


def test_existing_dataset_kept_if_same_refused_if_other_unless_overwrite(tmp_path):
    cfg = SynthConfig(classes=("phone",), per_class=1, views=2, res=16, supersample=1)
    out = tmp_path / "ds"
    generate_dataset(out, cfg, progress=False)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    report = generate_dataset(out, cfg, progress=False)  # same options: already complete
    assert report.up_to_date and {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    with pytest.raises(UserError, match="--out .*--overwrite"):
        generate_dataset(out, replace(cfg, per_class=2), progress=False)
    generate_dataset(out, replace(cfg, per_class=2), overwrite=True, progress=False)
    assert len(open_dataset(out)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # nothing left beside it
    (out / "dataset.json").write_text("{broken")
    with pytest.raises(UserError, match="--overwrite"):  # not silently reused
        generate_dataset(out, replace(cfg, per_class=2), progress=False)


def test_overwrite_never_deletes_a_folder_it_did_not_make(tmp_path):
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    cfg = SynthConfig(classes=("phone",), per_class=1, views=2, res=16, supersample=1)
    with pytest.raises(UserError, match="not a clip2nerf dataset"):
        generate_dataset(precious, cfg, overwrite=True, progress=False)
    assert (precious / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    empty = tmp_path / "empty"
    empty.mkdir()
    generate_dataset(empty, cfg, progress=False)  # an empty folder is fine
    assert len(open_dataset(empty)) == 1


def test_interrupted_run_leaves_nothing_at_out_and_resumes(tmp_path, small_dataset, small_cfg):
    out = tmp_path / "small"
    seen = []

    def interrupt(oid):
        seen.append(oid)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_dataset(out, small_cfg, progress=False, on_object=interrupt)
    assert not out.exists() and staging_dir(out).is_dir()
    with pytest.raises(UserError, match="interrupted run with other options"):
        generate_dataset(out, replace(small_cfg, res=16), progress=False)
    report = generate_dataset(out, small_cfg, progress=False)
    assert report.n_resumed == 4 and not staging_dir(out).exists()
    assert _tree_bytes(out) == _tree_bytes(small_dataset)


@pytest.mark.parametrize("field,value,option", [("per_class", 0, "--per-class"), ("per_class", -2, "--per-class"),
                                                ("res", 0, "--res"), ("views", 0, "--views"),
                                                ("classes", ("chair", "dragon"), "--classes"),
                                                ("supersample", 0, "--supersample")])
def test_bad_config_names_the_option(tmp_path, small_cfg, field, value, option):
    with pytest.raises(UserError, match=option):
        generate_dataset(tmp_path / "x", replace(small_cfg, **{field: value}), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_out(tmp_path, small_cfg):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="--out"):
        generate_dataset(blocker / "ds", small_cfg, progress=False)
    with pytest.raises(UserError, match="--out .*not a folder"):
        generate_dataset(blocker, small_cfg, progress=False)
