"""clip2nerf eval on the tiny world: every table's rows, the protocols, caching, the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from tiny_world import FakeVLM

from clip2nerf.cli.main import main
from clip2nerf.evaluation import EvalConfig, EvalPaths, run_eval, view_orders
from clip2nerf.evaluation.experiments import _recall, mean_of_views
from clip2nerf.index import Gallery

FAST = dict(views=(1, 2), clip2nerf_epochs=2, nerf2clip_epochs=2, clip2nerf_lr=1e-3, timing_objects=1,
            timing_repeats=1, render_samples=8, throughput_files=20, paper_gallery_objects=50)


@pytest.fixture(scope="module")
def report(world, tmp_path_factory):
    work = tmp_path_factory.mktemp("eval")
    paths = EvalPaths(work, world["data"], world["nerfs"], world["nf2vec"])
    path = run_eval(paths, EvalConfig(vlm=world["vlm"], **FAST), log=lambda m: None,
                    progress=False)
    return paths, path


@pytest.mark.slow
def test_report_has_every_table_with_its_rows(report):
    paths, path = report
    text = path.read_text()
    for heading in ("Table 1", "Table 2", "Table 3", "Figure 7", "Table 5"):
        assert f"## {heading}" in text
    # Every table is labelled with the VLM, the dataset and the split.
    assert text.count("VLM fake-test-vlm · ") >= 5 and "split test" in text
    assert "{zs[" not in text  # every f-string filled in
    res = json.loads((path.parent / "results.json").read_text())
    t1 = [r["method"] for r in res["zero_shot"]["table1"]]
    assert t1[:3] == ["VLM baseline, 1 view", "VLM baseline, 2 views", "VLM baseline, N views"]
    assert t1[3].startswith("nerf2clip rendered") and t1[4].startswith("nerf2clip GT")
    # nerf2clip from files on disk: one file, then a folder of throughput_files copies.
    assert "from its NeRF file" in t1[5] and "batched: a folder of 20 NeRF files" in t1[6]
    batched = res["zero_shot"]["table1"][6]
    assert batched["file_io"] and batched["nerfs_per_s"] == pytest.approx(1000 / batched["ms"])
    assert t1[7].startswith("nf2vec oracle")
    assert all(r["ms"] > 0 for r in res["zero_shot"]["table1"])
    assert [(r["source"], r["views"]) for r in res["zero_shot"]["table2"]] == [
        ("gt", 1), ("gt", 2), ("gt", 4), ("rendered", 1), ("rendered", 2), ("rendered", 4)]
    assert [r["method"] for r in res["single_view"]["table3"]] == [
        "VLM GT mean", "VLM rendered mean", "VLM GT all", "VLM rendered all", "clip2nerf GT",
        "clip2nerf rendered"]
    rows = {r["method"]: r for r in res["single_view"]["table3"]}
    assert rows["VLM GT all"]["rows"] == 4 * rows["VLM GT mean"]["rows"]  # 4 views per object
    assert set(res["multi_view"]["fig7"]) == {"clip2nerf GT", "clip2nerf rendered",
                                               "VLM GT mean (mean query)"}
    assert [p["views"] for p in res["multi_view"]["fig7"]["clip2nerf GT"]] == [1, 2, 4]
    assert [r["method"] for r in res["text"]["table5"]] == [
        "VLM GT mean", "VLM rendered mean", "clip2nerf GT", "clip2nerf GT multimodal"]
    assert len(res["findings"]) == 7  # 4 nerf2clip rows (2 from files), 2 retrieval, text
    for png in ("fig4_zero_shot.png", "fig7_multiview.png", "fig6_retrieval_examples.png"):
        assert (path.parent / png).stat().st_size > 1000 and png in text
    # Mappers trained on the train split only, for these models.
    cfg = json.loads((paths.workdir / "mappers" / "clip2nerf-gt-multimodal" /
                      "config.json").read_text())
    assert cfg["multimodal"] and cfg["vlm_space"] == "vlm:fake-test-vlm"
    # The recipe overrides reach the mappers and the report.
    assert cfg["train"]["lr"] == 1e-3 and cfg["train"]["epochs"] == 2
    assert "clip2nerf 2 epochs lr 0.001 (paper 150/1e-05)" in text


@pytest.mark.slow
def test_table3_timing_at_the_paper_gallery_size(report):
    paths, path = report
    res = json.loads((path.parent / "results.json").read_text())
    rows = {r["method"]: r for r in res["single_view"]["table3_paper_scale"]}
    assert list(rows) == ["VLM GT mean", "VLM GT all", "clip2nerf GT"]
    assert {r["objects"] for r in rows.values()} == {50}
    assert rows["VLM GT mean"]["rows"] == rows["clip2nerf GT"]["rows"] == 50
    assert rows["VLM GT all"]["rows"] == 4 * 50  # 4 views per object
    small = {r["method"]: r for r in res["single_view"]["table3"]}
    for m in rows:  # bigger than Table 3's own gallery, and timed
        assert rows[m]["mb"] > small[m]["mb"] and rows[m]["ms"] > 0
    # Flat indexes of the same dim: size ~ rows (faiss adds a small header).
    assert rows["VLM GT all"]["mb"] == pytest.approx(4 * rows["VLM GT mean"]["mb"], rel=0.05)
    text = path.read_text()
    assert "at the paper's gallery size (50 objects" in text
    assert "clip2nerf GT vs VLM GT all:" in text and "(paper: 13.2x and 18.1x)" in text


@pytest.mark.slow
def test_rerun_reuses_every_artefact(report, world):
    paths, path = report
    mapper = paths.workdir / "mappers" / "nerf2clip-gt-1" / "model.safetensors"
    stamp = mapper.stat().st_mtime_ns
    logs = []
    run_eval(paths, EvalConfig(vlm=world["vlm"], **FAST), log=logs.append, progress=False)
    assert mapper.stat().st_mtime_ns == stamp
    assert not any("train" in m and "done" in m for m in logs)


@pytest.mark.slow
def test_workdir_layout_is_the_one_earlier_versions_wrote(report):
    """Embeddings and mapper folders under the names main at 9680dbb used, so the workdirs it
    wrote are reused (views (1, 2) + N = 4)."""
    paths, _ = report
    w = paths.workdir
    for rel in ("emb/nerf.safetensors", "emb/views-gt", "emb/views-rendered",
                "emb/captions.safetensors", "rendered", "report/results.json"):
        assert (w / rel).exists(), rel
    assert sorted(p.name for p in (w / "mappers").iterdir()) == sorted(
        ["clip2nerf-gt", "clip2nerf-rendered", "clip2nerf-gt-multimodal"]
        + [f"nerf2clip-{src}-{n}" for src in ("gt", "rendered") for n in (1, 2, 4)])


@pytest.mark.slow
def test_recall_wider_than_the_gallery_is_left_out_and_said_so(report):
    """The tiny world's test split has 4 objects: in a one-row-per-object gallery a query has
    3 neighbours once its own object is excluded, so recall@5 and @10 are left out (not
    reported as a narrower recall) and the report says why; the 'all' galleries (one row per
    view, 16 rows) have 12 and keep every k."""
    _, path = report
    res = json.loads((path.parent / "results.json").read_text())
    n = res["single_view"]["n_queries"]
    assert n == 4
    for row in res["single_view"]["table3"] + res["text"]["table5"]:
        per_view = row.get("rows", n) > n
        assert set(row["recall"]) == ({"1", "5", "10"} if per_view else {"1"}), row
    assert "R@k shown as '-'" in path.read_text()


def test_query_object_is_excluded_from_the_gallery():
    """Queries equal to their own gallery row would always hit themselves; excluded, the
    recall equals a brute-force nearest *other* object."""
    rng = np.random.default_rng(0)
    vec = rng.normal(size=(30, 8)).astype(np.float32)
    ids = [f"o{i}" for i in range(30)]
    labels = [f"c{i % 5}" for i in range(30)]
    g = Gallery.from_vectors(vec, ids, labels, "s")
    got = _recall(g, vec, ids, labels)
    unit = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1)
    lab = np.asarray(labels)
    for k in (1, 5, 10):
        expected = (lab[order[:, :k]] == lab[:, None]).any(axis=1).mean()
        assert got[k] == pytest.approx(expected)
    assert got[1] < 1.0  # without the exclusion every query would find itself


def test_random_view_sets_are_nested_and_seeded():
    a, b = view_orders(5, 36, seed=0, salt=4), view_orders(5, 36, seed=0, salt=4)
    assert np.array_equal(a, b) and not np.array_equal(a, view_orders(5, 36, seed=1, salt=4))
    assert all(sorted(row) == list(range(36)) for row in a)  # permutations: nested prefixes
    per_view = np.eye(36, dtype=np.float32)[None].repeat(5, 0)
    m = mean_of_views(per_view, a, 2)
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0)
    assert np.allclose(m[0, a[0, :2]], 1 / np.sqrt(2))


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["eval", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --data") and err.count("\n") == 1
    assert main(["eval", "--workdir", str(tmp_path), "--views", "1,x"]) == 2
    assert "--views" in capsys.readouterr().err
    assert main(["eval", "--workdir", str(tmp_path), "--clip2nerf-lr", "5"]) == 2
    assert "--clip2nerf-lr 5.0: must be between 0 and 1" in capsys.readouterr().err


def test_refuses_embeddings_of_another_vlm_in_the_workdir(report, world, tmp_path):
    """A cached view table of another VLM is not silently reused: it is recomputed."""
    paths, _ = report
    work = tmp_path / "w"
    shutil.copytree(paths.workdir / "emb", work / "emb")
    from clip2nerf.evaluation import prepare

    art = prepare(EvalPaths(work, world["data"], world["nerfs"], world["nf2vec"]),
                  EvalConfig(vlm=FakeVLM("second-vlm"), **FAST), log=lambda m: None,
                  progress=False)
    assert art.views_gt.space == "vlm:second-vlm" == art.mappers["clip2nerf-gt"].config.vlm_space


def test_val_plus_test_split_evaluates_both_and_selects_nothing_on_them(report, world):
    from clip2nerf.evaluation import prepare, zero_shot
    from clip2nerf.evaluation.experiments import recall_ceiling

    paths, _ = report
    cfg = EvalConfig(vlm=world["vlm"], split="val+test", **FAST)
    art = prepare(paths, cfg, log=lambda m: None, progress=False)
    assert art.splits["val+test"] == sorted(art.splits["val"] + art.splits["test"])
    zs = zero_shot(art, cfg, log=lambda m: None)
    assert zs.n_test == 8 and zs.chosen_views == {"gt": 4, "rendered": 4}
    assert "val is evaluated" in zs.selection
    # One object per class: no query has a same-class object left; two: all of them do.
    assert recall_ceiling(["a", "b", "c"]) == 0.0
    assert recall_ceiling(["a", "a", "b"]) == pytest.approx(2 / 3)
    with pytest.raises(Exception, match="val\\+test"):
        prepare(paths, EvalConfig(vlm=world["vlm"], split="train", **FAST), log=lambda m: None,
                progress=False)


def test_report_says_what_an_offline_vlm_is():
    from types import SimpleNamespace

    from clip2nerf.evaluation.run import vlm_note

    assert vlm_note(FakeVLM()) == ""  # not an offline model: nothing to add
    cnn = FakeVLM(name="offline-lit-minilm-v1@x")
    cnn.config = SimpleNamespace(image_tower="cnn")
    assert "not CLIP" in vlm_note(cnn) and "nearest-neighbour" not in vlm_note(cnn)
    cnn.config.image_tower = "knn"
    assert "train-split captions" in vlm_note(cnn)


@pytest.mark.slow
def test_a_dataset_without_captions_leaves_table5_out(world, tmp_path):
    """An nf2vec / ShapeNetRender tree has no captions: the report says Table 5 was not
    measured and no multimodal mapper is trained, instead of the whole evaluation failing."""
    from tiny_world import as_render_tree

    from clip2nerf.data.layouts import open_dataset

    src = open_dataset(world["data"])
    tree = as_render_tree(world["data"], tmp_path / "tree",
                          {s: src.object_ids(s) for s in ("train", "val", "test")})
    paths = EvalPaths(tmp_path / "w", tree, world["nerfs"], world["nf2vec"])
    path = run_eval(paths, EvalConfig(vlm=world["vlm"], split="val+test", **FAST),
                    log=lambda m: None, progress=False)
    text = path.read_text()
    assert "## Table 5" in text and "Not measured: the dataset's objects have no captions" in text
    assert "## Table 1" in text and "multimodal" not in text
    res = json.loads((path.parent / "results.json").read_text())
    assert res["text"]["table5"] == []
    assert not (paths.workdir / "mappers" / "clip2nerf-gt-multimodal").exists()
    assert not (paths.workdir / "emb" / "captions.safetensors").exists()
