"""Table 4 analogue (photo-style queries) on the tiny world, and through run_eval."""

from __future__ import annotations

import json

import pytest

from clip2nerf.augment import HELDOUT_PHOTOS
from clip2nerf.data.layouts import open_dataset
from clip2nerf.evaluation import EvalConfig, EvalPaths, run_eval
from clip2nerf.evaluation.syn2real import syn2real_markdown, syn2real_retrieval


@pytest.mark.slow
def test_syn2real_rows_pairs_and_held_out_queries(world, tmp_path):
    res = syn2real_retrieval(tmp_path, world["data"], world["vlm"], world["nerf_table"],
                             world["views"], split="test", views_per_object=2, epochs=2,
                             log=lambda m: None)
    assert res["vlm"] == "fake-test-vlm" and res["n_eval_objects"] == 4
    assert res["n_photo_queries"] == 8 and res["n_clean_queries"] == 8
    # 8 training objects x 4 views, then + 2 photo-style images each.
    assert res["train_pairs"] == {"renders only": 32, "+ photo-style": 48}
    methods = [(r["queries"], r["method"]) for r in res["rows"]]
    assert methods == [(q, m) for q in ("photo-style", "clean") for m in (
        "VLM GT mean", "VLM GT all", "clip2nerf GT renders only", "clip2nerf GT + photo-style")]
    assert all(0 <= v <= 1 for r in res["rows"] for v in r["recall"].values())
    # The queries are the test objects on held-out photos only.
    q = open_dataset(tmp_path / "syn2real" / "photo-test-seed0-x2")
    assert q.object_ids() == open_dataset(world["data"]).object_ids("test")
    used = {r["background"] for o in q.object_ids()
            for r in q.get(o).meta["augment"]["images"]}
    assert used <= set(HELDOUT_PHOTOS)
    text = syn2real_markdown(res)
    assert "## Table 4 analogue" in text and "`fake-test-vlm`" in text
    assert text.count("| photo-style |") == 4


@pytest.mark.slow
def test_run_eval_appends_the_syn2real_table(world, tmp_path):
    paths = EvalPaths(tmp_path, world["data"], world["nerfs"], world["nf2vec"])
    cfg = EvalConfig(vlm=world["vlm"], views=(1,), clip2nerf_epochs=1, nerf2clip_epochs=1,
                     clip2nerf_lr=1e-3, timing_objects=1, timing_repeats=1, render_samples=8,
                     syn2real=True)
    path = run_eval(paths, cfg, log=lambda m: None, progress=False)
    assert "## Table 4 analogue" in path.read_text()
    res = json.loads((path.parent / "results.json").read_text())
    assert res["syn2real"]["rows"] and res["meta"]["config"]["syn2real"] is True
