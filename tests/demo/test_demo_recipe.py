"""The demo's nf2vec recipe (issue 13): a workdir trained with another recipe is retrained,
not refused; the same recipe's run is kept (it resumes)."""

from __future__ import annotations

import dataclasses
import json

from clip2nerf.demo import DEMO_NF2VEC_RECIPE, Demo, DemoConfig
from clip2nerf.nf2vec import load_preset


def _history(folder, train_cfg, model_cfg) -> None:
    folder.mkdir(parents=True)
    (folder / "history.json").write_text(json.dumps(
        {"model_config": model_cfg.to_dict(), "train_config": train_cfg.to_dict(),
         "epochs": []}))


def test_nf2vec_of_another_recipe_is_removed_and_the_same_kept(tmp_path):
    demo = Demo(DemoConfig(workdir=tmp_path, preset="small"), echo=lambda m: None)
    model_cfg, train_cfg = load_preset("cpu")
    now = dataclasses.replace(train_cfg, seed=0, **DEMO_NF2VEC_RECIPE["small"])
    assert now.epochs == 120 and train_cfg.epochs == 60
    _history(demo.workdir.nf2vec, train_cfg, model_cfg)  # the former 60-epoch demo
    demo._drop_stale_nf2vec(demo.workdir.nf2vec, model_cfg, now)
    assert not demo.workdir.nf2vec.exists()
    _history(demo.workdir.nf2vec, now, model_cfg)
    demo._drop_stale_nf2vec(demo.workdir.nf2vec, model_cfg, now)
    assert (demo.workdir.nf2vec / "history.json").is_file()


def test_stage_params_carry_the_recipe(tmp_path):
    stages = {s.name: s for s in Demo(DemoConfig(workdir=tmp_path, preset="tiny")).stages()}
    assert stages["nf2vec"].params["overrides"] == {"epochs": 120}
    over = Demo(DemoConfig(workdir=tmp_path, preset="tiny", nf2vec_overrides={"epochs": 60}))
    assert {s.name: s for s in over.stages()}["nf2vec"].params["overrides"] == {"epochs": 60}


def test_the_ensemble_stage_exists_only_with_more_than_one_member(tmp_path):
    import pytest

    from clip2nerf.errors import UserError

    names = [s.name for s in Demo(DemoConfig(workdir=tmp_path, preset="tiny")).stages()]
    assert "ensemble" not in names
    stages = {s.name: s for s in Demo(DemoConfig(workdir=tmp_path, preset="tiny",
                                                 ensemble=3)).stages()}
    assert list(stages)[-1] == "ensemble"
    assert stages["ensemble"].params["members"] == 3
    assert "seed 1, 2" in stages["ensemble"].description
    for bad in (0, 9):
        with pytest.raises(UserError, match="--ensemble"):
            DemoConfig(workdir=tmp_path, ensemble=bad)
