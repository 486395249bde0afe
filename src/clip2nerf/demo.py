"""``clip2nerf demo``: the whole chain on bundled data, as cached stages in one workdir.

Objects are synthesised, NeRFs fitted, nf2vec and the offline VLM trained, the mapping networks
trained and evaluated (the paper's tables), a gallery built, and a short tour printed
(``clip2nerf.apps.tour``). Each stage calls the stage packages' own APIs (nothing here
reimplements them) and is cached in the workdir (see ``clip2nerf.pipeline``): a second run, or
a run after a kill, redoes nothing that finished, and an interrupted stage resumes from its own
per-item files. Workdir layout: ``clip2nerf.workdir`` (shared with ``clip2nerf eval``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from clip2nerf.apps.tour import TourResult, run_tour
from clip2nerf.errors import UserError
from clip2nerf.pipeline import Stage, StageRunner
from clip2nerf.workdir import Workdir

__all__ = ["DemoConfig", "Demo", "TourResult", "run_demo"]

Preset = Literal["tiny", "small", "bench"]

DEMO_MAPPER_RECIPE: dict[str, Any] = {"clip2nerf_epochs": 10, "clip2nerf_lr": 1e-3}
"""The demo's mapper recipe (recorded in its report); ``clip2nerf eval`` keeps the paper's.
clip2nerf: the paper's 150 epochs at lr 1e-5 took 13x longer than 10 epochs at 1e-3 for no
better retrieval. nerf2clip keeps the paper's 100 epochs: 500 (1000 optimiser steps on the
small preset) fit its 78 training pairs too closely (train loss 0.002, val 0.19) and, over
nf2vec + mapper seeds 0-5 on one set of small-preset NeRFs, labelled 76% (65-85%) of the 26
held-out NeRFs against 78% (73-85%) with 100 epochs; on tiny, seeds 0-2, 49% (46-54%)
against 56% (54-58%) (benchmarks/bench_spread.py, --eval nerf2clip_epochs=500 vs default)."""

DEMO_NF2VEC_RECIPE: dict[str, dict[str, Any]] = {"tiny": {"epochs": 120},
                                                   "small": {"epochs": 120}, "bench": {}}
"""The demo's nf2vec training per preset, over the ``cpu`` preset (60 epochs; ``clip2nerf nf2vec
train`` keeps it). Issue 13, on ``small`` over nf2vec + mapper seeds 0-8 (one set of NeRFs): 120
epochs against 60 gave image recall@1 62% (54-69) vs 60% (46-65), oracle 89% vs 87%, text
recall@1 72% vs 70%, and no better zero-shot labels (76% (62-85) vs 77% (69-85): an earlier
4-seed comparison that favoured 120 for labels was a draw), for twice the nf2vec time (about
+70 s on small). The labels' spread comes from nf2vec's seed, which ``--ensemble K`` averages
out (docs/results.md). On ``tiny``, seeds 0-2: labels 56% (50-62) vs 56% (54-58), image recall@1
41% vs 36%. ``bench`` (5x the NeRFs, so 5x the steps per epoch) keeps 60. Not helped
(``TrainConfig.weight_noise`` 0.1, ``permute_units``): see docs/results.md."""

MAX_ENSEMBLE = 8

# Rough stage durations on a 2-core CPU, per preset, for the announcement at start (small:
# measured from a fresh clone; bench: measured stage by stage; tiny: measured with the CI
# test's 300-step fits).
_ESTIMATES_S: dict[str, dict[str, float]] = {
    "tiny": {"synth": 6, "fit": 180, "nf2vec": 150, "vlm": 2, "eval": 90, "adapted": 30,
             "gallery": 1, "tour": 30, "member": 160},
    "small": {"synth": 15, "fit": 560, "nf2vec": 260, "vlm": 2, "eval": 285, "adapted": 90,
              "gallery": 2, "tour": 35, "member": 170},
    "bench": {"synth": 130, "fit": 2750, "nf2vec": 1020, "vlm": 2, "eval": 1350,
              "adapted": 400, "gallery": 5, "tour": 20, "member": 1100},
}


@dataclass
class DemoConfig:
    """What the demo runs and where."""

    workdir: Path = Path("clip2nerf-demo")
    """Folder for every artefact; reused (cached) by later runs."""
    preset: Preset = "small"
    """Dataset preset: ``tiny`` (13 x 6 objects, tests), ``small`` (13 x 8), ``bench`` (13 x 40)."""
    device: str = "auto"
    """Torch device for training and rendering (``auto`` = CUDA if present)."""
    workers: int = 2
    """Processes that fit NeRFs in parallel on CPU (one per core is fastest)."""
    seed: int = 0
    """Seeds the dataset and every training run."""
    ensemble: int = 1
    """nf2vec models (each with its own mappers) whose outputs the tour averages; members
    after the first are trained with seeds ``seed + 1 ...`` (``clip2nerf.evaluation.ensemble``)."""
    fit_overrides: dict[str, Any] = field(default_factory=dict)
    """FitConfig fields to override (tests shorten fitting on the tiny preset)."""
    nf2vec_overrides: dict[str, Any] = field(default_factory=dict)
    """nf2vec TrainConfig fields to override."""
    vlm_overrides: dict[str, Any] = field(default_factory=dict)
    """PretrainedVLMConfig fields to override (e.g. ``backbone``, ``top_t``)."""
    adapted: bool = True
    """Also fit the adapted VLM (a head on the train split's views) and evaluate with it,
    beside the zero-shot report (``W/report/vlm-comparison.md``)."""
    eval_overrides: dict[str, Any] = field(default_factory=dict)
    """EvalConfig fields to override (e.g. mapper epochs)."""

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        if self.preset not in _ESTIMATES_S:
            raise UserError(f"--preset {self.preset!r}: choose tiny, small or bench")
        if self.workers < 1:
            raise UserError(f"--workers {self.workers}: must be >= 1")
        if not 1 <= self.ensemble <= MAX_ENSEMBLE:
            raise UserError(f"--ensemble {self.ensemble}: choose 1 (one model) to "
                            f"{MAX_ENSEMBLE}")


class Demo:
    """Builds the stage list for one workdir and runs it."""

    def __init__(self, cfg: DemoConfig, echo: Callable[[str], None] = print):
        self.cfg = cfg
        self.workdir = Workdir(cfg.workdir)
        self.echo = echo
        self.runner = StageRunner(cfg.workdir, echo=echo)

    # -- stages --------------------------------------------------------------------------
    def stages(self) -> list[Stage]:
        est = _ESTIMATES_S[self.cfg.preset]
        c = self.cfg
        return [
            Stage("synth", f"synthesise the '{c.preset}' object dataset", self._synth,
                  self._synth_params(), est["synth"]),
            Stage("fit", "fit one NeRF per object", self._fit,
                  {"overrides": c.fit_overrides, "seed": c.seed}, est["fit"]),
            Stage("nf2vec", "train nf2vec (cpu preset) on the train-split NeRFs", self._nf2vec,
                  {"overrides": {**DEMO_NF2VEC_RECIPE[c.preset], **c.nf2vec_overrides},
                   "seed": c.seed}, est["nf2vec"]),
            Stage("vlm", "write the zero-shot VLM (ImageNet EfficientNet-Lite + MiniLM, ConSE)",
                  self._vlm, {"kind": "zeroshot", "overrides": c.vlm_overrides}, est["vlm"]),
            Stage("eval", "embed, train the mapping networks, run the paper's experiments",
                  self._eval, {"overrides": {**DEMO_MAPPER_RECIPE, **c.eval_overrides},
                               "seed": c.seed}, est["eval"]),
        ] + ([Stage("adapted", "fit the adapted VLM's head on train-split views; evaluate "
                    "with it beside the zero-shot VLM", self._adapted,
                    {"overrides": {**DEMO_MAPPER_RECIPE, **c.eval_overrides},
                     "vlm": c.vlm_overrides, "seed": c.seed}, est["adapted"])]
             if c.adapted else []) + [
            Stage("gallery", "build the faiss gallery of evaluated NeRFs", self._gallery,
                  {}, est["gallery"]),
        ] + ([Stage("ensemble", f"train {c.ensemble - 1} more nf2vec model(s) + mappers "
                    f"(seed {', '.join(str(c.seed + m) for m in range(1, c.ensemble))}) and "
                    "compare the ensemble",
                    self._ensemble,
                    {"members": c.ensemble, "seed": c.seed,
                     "nf2vec": {**DEMO_NF2VEC_RECIPE[c.preset], **c.nf2vec_overrides},
                     "eval": {**DEMO_MAPPER_RECIPE, **c.eval_overrides}},
                    est["member"] * (c.ensemble - 1))] if c.ensemble > 1 else [])

    def _synth_params(self) -> dict[str, Any]:
        """What the dataset depends on: the preset's view size is part of it (presets moved
        from 64 px to 128 px views: an older workdir's dataset is made again)."""
        from clip2nerf.data.synth.presets import load_preset

        p = load_preset(self.cfg.preset)
        return {"preset": self.cfg.preset, "seed": self.cfg.seed, "res": p["res"],
                "supersample": p.get("supersample", 2)}

    def _synth(self) -> dict[str, Any]:
        import json

        from clip2nerf.data.dataset import DATASET_FILE
        from clip2nerf.data.synth.presets import load_preset
        from clip2nerf.data.synth.writer import SynthConfig, generate_dataset

        p = load_preset(self.cfg.preset)
        syn = SynthConfig(per_class=p["per_class"], views=p["views"], res=p["res"],
                          supersample=p.get("supersample", 2), seed=self.cfg.seed,
                          preset=self.cfg.preset)
        info = self.workdir.data / DATASET_FILE
        try:  # a dataset of another recipe (e.g. an older demo's 64 px views) is replaced
            stale = json.loads(info.read_text()).get("config") != syn.to_json()
        except (OSError, ValueError, AttributeError):
            stale = False
        if stale:
            self.echo(f"{self.workdir.data}: made with other options; making it again")
        report = generate_dataset(self.workdir.data, syn, workers=self.cfg.workers,
                                  progress=True, overwrite=stale)
        return {"objects": report.n_objects, "seconds": report.seconds}

    def _fit(self) -> dict[str, Any]:
        import statistics

        from clip2nerf.data.layouts import open_dataset
        from clip2nerf.nerf.fit import FitConfig
        from clip2nerf.nerf.runner import fit_dataset
        from clip2nerf.utils.device import resolve_device

        ds = open_dataset(self.workdir.data)
        ids = ds.object_ids()
        fit_cfg = FitConfig(**{"seed": self.cfg.seed, **self.cfg.fit_overrides})
        dev = resolve_device(self.cfg.device)
        workers = self.cfg.workers if dev.type == "cpu" else 1
        from tqdm import tqdm

        bar = tqdm(total=len(ids), desc="fit", unit="nerf")
        try:
            entries = fit_dataset(self.workdir.data, self.workdir.nerfs, ids, fit_cfg,
                                  device=str(dev), workers=workers, threads=1,
                                  on_done=lambda oid, entry, skipped: bar.update(1))
        except UserError as exc:
            raise UserError(f"{exc} (for the demo: delete {self.workdir.nerfs} to refit, or use "
                            "another --workdir)") from None
        finally:
            bar.close()
        psnr = [e["psnr"] for e in entries.values() if e.get("psnr") is not None]
        return {"nerfs": len(entries),
                "mean_psnr": statistics.fmean(psnr) if psnr else None}

    def _nf2vec(self) -> dict[str, Any]:
        history = self._train_nf2vec(self.workdir.nf2vec, self.cfg.seed)
        last = history[-1] if history else {}
        return {"epochs": last.get("epoch"), "val_psnr": last.get("val_psnr")}

    def _train_nf2vec(self, folder: Path, seed: int) -> list[dict[str, Any]]:
        """Train (or resume, or find finished) the demo's nf2vec recipe with ``seed`` in
        ``folder``: the workdir's model and each ensemble member's."""
        from clip2nerf.nf2vec import load_nerf_set, load_preset, train_nf2vec
        from clip2nerf.nf2vec.nerfs import dataset_splits
        from clip2nerf.utils.device import resolve_device
        from clip2nerf.utils.threads import default_threads, set_threads

        model_cfg, train_cfg = load_preset("cpu")
        train_cfg = dataclasses.replace(train_cfg, **{"seed": seed,
                                                     **DEMO_NF2VEC_RECIPE[self.cfg.preset],
                                                     **self.cfg.nf2vec_overrides})
        self._drop_stale_nf2vec(folder, model_cfg, train_cfg)
        nerf_set = load_nerf_set(self.workdir.nerfs, model_cfg.nerf, progress=False,
                                 splits=dataset_splits(self.workdir.data))
        set_threads(default_threads(cap=2))  # like `clip2nerf nf2vec train --threads 2`
        return train_nf2vec(nerf_set, folder, model_cfg, train_cfg,
                            resolve_device(self.cfg.device), progress=True)

    def _drop_stale_nf2vec(self, folder: Path, model_cfg, train_cfg) -> None:
        """Remove ``folder`` (an nf2vec model) when it was trained with another recipe (e.g. by
        an older demo, before ``DEMO_NF2VEC_RECIPE``): the stage reruns because its params
        changed, and training would refuse to resume another configuration's run."""
        import shutil

        from clip2nerf.nf2vec.train import same_configs
        from clip2nerf.utils.io import read_json

        history = folder / "history.json"
        if not history.is_file():
            return
        try:
            saved = read_json(history)
            same = same_configs({"model": saved["model_config"], "train": saved["train_config"]},
                                model_cfg, train_cfg)
        except (UserError, KeyError, TypeError):
            same = False
        if not same:
            self.echo(f"{folder}: trained with another recipe; training it again")
            shutil.rmtree(folder)

    def _vlm(self) -> dict[str, Any]:
        import shutil

        from clip2nerf.vlm.pretrained import PretrainedVLM, PretrainedVLMConfig

        model = PretrainedVLM(PretrainedVLMConfig(**self.cfg.vlm_overrides),
                              device=self.cfg.device)
        if self.workdir.vlm.exists():  # e.g. an older demo's offline model
            shutil.rmtree(self.workdir.vlm)
        model.save_pretrained(self.workdir.vlm)
        return {"name": model.name}

    def _adapted(self) -> dict[str, Any]:
        """The adapted VLM's head (train split), the evaluation with it in ``W/adapted`` (the
        parent's data, NeRFs, nf2vec and rendered views), and the two side by side."""
        import dataclasses

        from clip2nerf.evaluation import EvalPaths, run_eval
        from clip2nerf.evaluation.compare import write_vlm_comparison
        from clip2nerf.utils.threads import set_threads
        from clip2nerf.vlm.pretrained import PretrainedVLMConfig, prepare_adapted

        w = self.workdir
        set_threads(1)
        model = prepare_adapted(w.data, w.vlm_adapted,
                                PretrainedVLMConfig(**self.cfg.vlm_overrides),
                                device=self.cfg.device, progress=True, log=self.echo)
        paths = EvalPaths(w.adapted.root, data=w.data, nerfs=w.nerfs, nf2vec=w.nf2vec,
                          rendered=w.rendered_views)
        cfg = dataclasses.replace(self._eval_config(), vlm=str(w.vlm_adapted))
        run_eval(paths, cfg, command=f"clip2nerf eval --workdir {w.adapted.root} --data "
                                     f"{w.data} --nerfs {w.nerfs} --nf2vec {w.nf2vec} --vlm "
                                     f"{w.vlm_adapted}", log=self.echo)
        out = write_vlm_comparison(w.report / "results.json",
                                   w.adapted.report / "results.json", w.vlm_comparison)
        return {"name": model.name, "report": str(out)}

    def _eval_config(self):
        from clip2nerf.evaluation import EvalConfig
        from clip2nerf.utils.device import resolve_device

        split = "val+test" if self._one_test_object_per_class() else "test"
        base = {"vlm": str(self.workdir.vlm), "split": split, "seed": self.cfg.seed,
                "device": str(resolve_device(self.cfg.device)), **DEMO_MAPPER_RECIPE}
        return EvalConfig(**{**base, **self.cfg.eval_overrides})

    def _one_test_object_per_class(self) -> bool:
        from clip2nerf.data.layouts import open_dataset

        ds = open_dataset(self.workdir.data)
        return len(ds.object_ids("test")) <= len(ds.classes)

    def _eval(self) -> dict[str, Any]:
        from clip2nerf.evaluation import EvalPaths, run_eval
        from clip2nerf.utils.threads import set_threads

        # Like `clip2nerf eval --threads 1`: every step here (rendering views, embedding,
        # mappers) runs small models; the demo ran this stage with torch's default (2 spinning
        # threads) and it took 10x longer beside another job (issue 20).
        set_threads(1)
        report = run_eval(EvalPaths(self.cfg.workdir), self._eval_config(),
                          command=f"clip2nerf demo --workdir {self.cfg.workdir} --preset "
                                  f"{self.cfg.preset}",
                          log=self.echo)
        return {"report": str(report)}

    def _ensemble(self) -> dict[str, Any]:
        from clip2nerf.evaluation import EvalPaths, prepare
        from clip2nerf.evaluation.ensemble import (
            ensemble_results,
            own_member,
            prepare_member,
            write_ensemble_report,
        )
        from clip2nerf.utils.threads import set_threads

        cfg = self._eval_config()
        paths = EvalPaths(self.cfg.workdir)
        set_threads(1)
        art = prepare(paths, cfg, log=lambda m: None, progress=False)  # the eval stage's, cached
        members = [own_member(art)]
        for m in range(1, self.cfg.ensemble):
            members.append(prepare_member(art, paths, m, cfg, self._train_nf2vec, self.echo))
            set_threads(1)  # nf2vec training took two threads; the rest is small (issue 20)
        results = ensemble_results(art, cfg, members)
        report = write_ensemble_report(
            self.workdir.ensemble_report, results,
            f"clip2nerf demo --workdir {self.cfg.workdir} --preset {self.cfg.preset} "
            f"--ensemble {self.cfg.ensemble}")
        for r in results["rows"]:
            self.echo(f"  {r['model']:<32} labels {r['labels']:.0%}, image R@1 "
                      f"{r['image_r1']:.0%}, text R@1 {r['text_r1']:.0%}")
        return {"report": str(report), "rows": results["rows"]}

    def _eval_ids(self) -> list[str]:
        from clip2nerf.data.layouts import open_dataset

        ds = open_dataset(self.workdir.data)
        split = self._eval_config().split
        return [i for s in split.split("+") for i in ds.object_ids(s)]

    def _gallery(self) -> dict[str, Any]:
        from clip2nerf.index import Gallery
        from clip2nerf.utils.embeddings import load_embeddings

        table = load_embeddings(self.workdir.nerf_embeddings)
        ids = [i for i in self._eval_ids() if i in set(table.ids)]
        Gallery.from_table(table.subset(ids)).save(self.workdir.gallery, overwrite=True)
        return {"nerfs": len(ids)}

    # -- tour ----------------------------------------------------------------------------
    def tour(self) -> TourResult:
        """The applications on the finished workdir (``clip2nerf.apps.tour``)."""
        from clip2nerf.utils.device import resolve_device

        return run_tour(self.workdir, self._eval_ids(), str(resolve_device(self.cfg.device)),
                        self.echo, ensemble=self.cfg.ensemble)

    def run(self) -> TourResult:
        t0 = time.perf_counter()
        self.echo(f"clip2nerf demo: preset '{self.cfg.preset}', workdir {self.cfg.workdir}")
        self.echo("  synth -> fit NeRFs -> nf2vec -> zero-shot VLM -> mapping networks + "
                  "paper's tables -> adapted VLM beside it -> gallery -> tour")
        self.runner.run_all(self.stages())
        t_tour = time.perf_counter()
        result = self.tour()
        tour_s = time.perf_counter() - t_tour
        self.echo("\nStage timings:")
        self.echo(self.runner.timing_table() + f"\n(tour {tour_s:.1f} s; wall "
                  f"{time.perf_counter() - t0:.1f} s)")
        w = self.workdir
        self.echo(f"\nWritten under {w.root}:\n"
                  f"  report    {w.report / 'report.md'}"
                  + (f"   zero-shot vs adapted VLM {w.vlm_comparison}\n" if self.cfg.adapted
                     else "\n") +
                  f"  tour PNGs {w.tour}\n"
                  f"  NeRFs     {w.nerfs}   nf2vec {w.nf2vec}   VLM {w.vlm}\n"
                  f"  gallery   {w.gallery}"
                  + (f"\n  ensemble  {w.ensemble_report}" if self.cfg.ensemble > 1
                     else ""))
        return result


def run_demo(cfg: DemoConfig, echo: Callable[[str], None] = print) -> TourResult:
    """Run (or resume) every demo stage in ``cfg.workdir``, then the tour; ``echo`` gets each
    progress line."""
    return Demo(cfg, echo).run()
