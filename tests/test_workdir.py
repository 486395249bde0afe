"""The workdir layout and mapper folder names: one owner, and compatible with the workdirs that
earlier clip2nerf versions wrote."""

import shutil
from pathlib import Path

import pytest

from clip2nerf.demo import Demo, DemoConfig
from clip2nerf.pipeline import StageRunner
from clip2nerf.workdir import MapperSpec, Workdir, clip2nerf_spec, nerf2clip_spec

FIXTURE = Path(__file__).parent / "fixtures" / "main-9680dbb-tiny-workdir"

# Mapper folders as main at 9680dbb names them (evaluation/prepare.py's mapper_names).
MAIN_MAPPER_FOLDERS = {
    "clip2nerf-gt": ("clip2nerf", "gt", None, False),
    "clip2nerf-rendered": ("clip2nerf", "rendered", None, False),
    "clip2nerf-gt-multimodal": ("clip2nerf", "gt", None, True),
    "nerf2clip-gt-1": ("nerf2clip", "gt", 1, False),
    "nerf2clip-gt-12": ("nerf2clip", "gt", 12, False),
    "nerf2clip-rendered-4": ("nerf2clip", "rendered", 4, False),
    "nerf2clip-rendered-36": ("nerf2clip", "rendered", 36, False),
}


@pytest.mark.parametrize("name", sorted(MAIN_MAPPER_FOLDERS))
def test_mapper_folder_names_round_trip(name):
    spec = MapperSpec.from_folder_name(name)
    assert (spec.direction, spec.views, spec.n_views, spec.multimodal) == MAIN_MAPPER_FOLDERS[name]
    assert spec.folder_name == name and str(spec) == name
    assert MapperSpec(*MAIN_MAPPER_FOLDERS[name]).folder_name == name


@pytest.mark.parametrize("name", ["clip2nerf", "clip2nerf-gt-3", "nerf2clip-gt",
                                  "nerf2clip-gt-0", "nerf2clip-gt-4-multimodal",
                                  "clip2nerf-photo", "nerf2clip-gt-12.tmp", "x-gt-1"])
def test_other_folder_names_are_not_mappers(name):
    with pytest.raises(ValueError):
        MapperSpec.from_folder_name(name)


def test_spec_refuses_impossible_variants():
    with pytest.raises(ValueError, match="view count"):
        MapperSpec("nerf2clip", "gt")
    with pytest.raises(ValueError, match="multimodal"):
        MapperSpec("nerf2clip", "gt", 4, multimodal=True)
    with pytest.raises(ValueError, match="no view count"):
        MapperSpec("clip2nerf", "gt", 4)
    assert clip2nerf_spec("gt", True).label == "clip2nerf GT multimodal"
    assert nerf2clip_spec("rendered", 2).label == "nerf2clip rendered"


def test_paths_are_those_main_wrote(tmp_path):
    w = Workdir(tmp_path)
    rel = {name: str(getattr(w, name).relative_to(tmp_path)) for name in (
        "data", "nerfs", "nf2vec", "vlm", "nerf_embeddings", "gt_view_embeddings",
        "rendered_views", "rendered_view_embeddings", "caption_embeddings", "mappers", "report",
        "syn2real", "gallery", "tour", "catalogue", "stages")}
    assert rel == {"data": "data", "nerfs": "nerfs", "nf2vec": "nf2vec", "vlm": "vlm",
                   "nerf_embeddings": "emb/nerf.safetensors",
                   "gt_view_embeddings": "emb/views-gt", "rendered_views": "rendered",
                   "rendered_view_embeddings": "emb/views-rendered",
                   "caption_embeddings": "emb/captions.safetensors", "mappers": "mappers",
                   "report": "report", "syn2real": "syn2real", "gallery": "gallery",
                   "tour": "tour", "catalogue": "catalogue", "stages": ".stages"}
    assert w.mapper(nerf2clip_spec("gt", 12)) == tmp_path / "mappers" / "nerf2clip-gt-12"


def test_mapper_folders_present_are_found(tmp_path):
    w = Workdir(tmp_path)
    assert w.mapper_specs() == [] and w.nerf2clip_most_views() is None
    for name in [*MAIN_MAPPER_FOLDERS, "notes", "nerf2clip-gt-3.partial"]:
        (w.mappers / name).mkdir(parents=True)
    (w.mappers / "nerf2clip-gt-99").write_text("a file, not a mapper folder")
    assert [s.folder_name for s in w.mapper_specs()] == sorted(MAIN_MAPPER_FOLDERS)
    assert w.nerf2clip_most_views("gt") == nerf2clip_spec("gt", 12)  # 12 > 1, not "1" > "12"
    assert w.nerf2clip_most_views("rendered") == nerf2clip_spec("rendered", 36)


def test_demo_workdir_of_main_is_all_cached(tmp_path, monkeypatch):
    """A finished demo workdir written by main at 9680dbb: its stage markers still read, and
    under main's recipe its synth, fit and nf2vec stages are cached (no stage function may
    run). Today's recipe makes 128 px views (issue 26), so synth and everything after it run
    again; the VLM stage changed too (the zero-shot VLM replaced the offline one)."""
    import clip2nerf.demo as demo_module

    work = tmp_path / "w"
    shutil.copytree(FIXTURE, work)
    today = Demo(DemoConfig(workdir=work, preset="tiny"), echo=lambda m: None)
    runner = StageRunner(work, echo=lambda m: None)
    now = today.stages()
    assert not runner.is_done(now[0]) and not runner.is_done(now[3])  # synth and vlm rerun
    # main's recipe: the markers it wrote still match, stage by stage
    monkeypatch.setitem(demo_module.DEMO_NF2VEC_RECIPE, "tiny", {})
    monkeypatch.setattr(Demo, "_synth_params",
                        lambda self: {"preset": self.cfg.preset, "seed": self.cfg.seed})
    demo = Demo(DemoConfig(workdir=work, preset="tiny"), echo=lambda m: None)
    stages = demo.stages()
    assert [s.name for s in stages] == ["synth", "fit", "nf2vec", "vlm", "eval", "adapted",
                                        "gallery"]

    def must_not_run():
        raise AssertionError("a stage of a finished workdir ran again")

    for s in stages[:3]:
        s.run = must_not_run
    results = StageRunner(work, echo=lambda m: None).run_all(stages[:3])
    assert all(r.cached for r in results)
    assert not runner.is_done(stages[3])  # main's offline VLM is not today's zero-shot one
    # A changed setting still reruns from that stage on.
    changed = Demo(DemoConfig(workdir=work, preset="tiny", seed=1), echo=lambda m: None)
    runner = StageRunner(work, echo=lambda m: None)
    assert not runner.is_done(changed.stages()[0])
