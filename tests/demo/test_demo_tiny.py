"""The demo end to end on the tiny preset, with shortened training so it fits in CI."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clip2nerf.demo import DemoConfig, run_demo
from clip2nerf.pipeline import StageRunner

pytestmark = pytest.mark.slow

QUICK = dict(fit_overrides={"steps": 300}, nf2vec_overrides={"epochs": 5},
             vlm_overrides={}, eval_overrides={"clip2nerf_epochs": 20, "nerf2clip_epochs": 20,
                                               "views": (1,), "timing_repeats": 1,
                                               "timing_objects": 1})


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    result = run_demo(DemoConfig(workdir=workdir, preset="tiny", workers=2, **QUICK),
                      echo=lines.append)
    return workdir, result, lines


def test_tour_outputs_exist_and_are_images(demo_run):
    workdir, result, lines = demo_run
    assert (workdir / "report" / "report.md").read_text().count("|") > 20
    assert len(result.pngs) >= 3
    for png in result.pngs:
        with Image.open(png) as im:
            arr = np.asarray(im.convert("RGB"))
        assert arr.shape[0] >= 32 and arr.std() > 5  # a real picture, not a blank
    assert any("Stage timings" in line for line in lines)


def test_tour_labels_every_evaluated_nerf(demo_run):
    workdir, result, _ = demo_run
    from clip2nerf.data.dataset import open_dataset

    ds = open_dataset(workdir / "data")
    expected = set(ds.object_ids("val")) | set(ds.object_ids("test"))
    assert {r["object_id"] for r in result.labels} == expected
    assert all(r["label"] in ds.classes and r["truth"] in ds.classes for r in result.labels)
    assert set(result.text_hits) and all(len(h) == 5 for h in result.text_hits.values())
    assert result.image_query["hits"]


def test_second_run_is_all_cached(demo_run):
    workdir, _, _ = demo_run
    lines: list[str] = []
    run_demo(DemoConfig(workdir=workdir, preset="tiny", workers=2, **QUICK), echo=lines.append)
    assert sum("cached" in line for line in lines) >= 6
    runner = StageRunner(Path(workdir), echo=lambda m: None)
    assert (runner.marker_dir / "eval.json").exists()
