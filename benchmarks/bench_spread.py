"""Spread of the demo's headline figures over seeds, on NeRFs fitted once.

    python benchmarks/bench_spread.py --workdir clip2nerf-demo --preset small --seeds 0 1 2
    python benchmarks/bench_spread.py --workdir /tmp/spread-tiny --preset tiny   # quick

The base workdir is a `clip2nerf demo` workdir: the demo's stages are run there first (cached
if the demo already ran, except the evaluation, which is rerun with 1 and N views only and one
timing repeat; `--preset tiny` uses the CI demo test's shortened NeRF fits). For each
seed, a workdir `<out>/seed-<s>` links the base's dataset, NeRFs, zero-shot VLM, rendered views
and VLM embeddings, then trains nf2vec with that seed and runs the evaluation (the demo's
mapper recipe, baselines with 1 and N views, one timing repeat) with that seed. What a seed
changes: nf2vec's initialisation and batch order; the mappers' initialisation and batch order;
the random query view of each object (image retrieval) and the random view of the 1-view
baseline. What it does not change: the dataset, the fitted NeRFs (one fit per object) and the
zero-shot VLM (pre-trained, nothing fitted; `--vlm adapted` takes the base's adapted head as
it is). For the base's own seed without overrides the base's nf2vec and mappers are reused (they are what the seed would retrain, bit for bit on one
machine).

Prints, per figure, the mean, min and max over seeds and each seed's value; --json writes them.
Figures (the evaluated objects are the demo's held-out split):
  zero-shot labels: nerf2clip GT (N views; from the weights, no rendering), the VLM baseline on
  1 and N rendered views, the supervised nf2vec oracle; image -> NeRF recall@1 (one random
  ground-truth view as the query): clip2nerf GT, VLM galleries GT mean / GT all; text -> NeRF
  recall@1 (captions): clip2nerf GT, clip2nerf GT multimodal, VLM GT mean; and the tour's
  searches (clip2nerf GT multimodal): its six text queries with the right class first and in
  the top 5, and its photo query with the right class in the top 5.

`--ensemble K` adds the spread of K-seed ensembles (the seeds in consecutive disjoint groups:
`--seeds 0 1 2 3 4 5 6 7 8 --ensemble 3` gives three ensembles). `--fit-seed S` fits the
base's NeRFs with fitting seed S (one base workdir per fitting seed): the spread over fitting
seeds is one run per base.

Levers (step 3 of issue 13) are passed as overrides, e.g. `--nf2vec epochs=120` or
`--eval nerf2clip_epochs=1000`; runs with overrides go to their own `--tag` folder. A recipe
that changes only the evaluation/mappers reuses each seed's nf2vec of the default recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# The CI demo test's settings for the tiny preset (tests/demo/test_demo_tiny.py): 300-step fits.
TINY_DEMO = dict(fit_overrides={"steps": 300}, nf2vec_overrides={}, vlm_overrides={},
                 eval_overrides={"views": (1,), "timing_repeats": 1, "timing_objects": 1})

# The evaluation per seed: only the 1-view and N-view baselines/ablations, one timing repeat.
SEED_EVAL = {"views": (1,), "timing_repeats": 1, "timing_objects": 1}

# Artefacts that do not depend on nf2vec or the seed: linked from the base workdir.
SHARED = ("data", "nerfs", "vlm", "rendered_views", "gt_view_embeddings",
          "rendered_view_embeddings", "caption_embeddings")
# With --vlm adapted these come from the base's adapted evaluation (W/adapted).
ADAPTED_SHARED = ("gt_view_embeddings", "rendered_view_embeddings", "caption_embeddings")
# What a seed retrains: nf2vec and everything made from it.
PER_SEED = ("nf2vec", "nerf_embeddings", "mappers")

FIGURES = [
    # (key, label)
    ("zs_nerf2clip", "zero-shot labels, nerf2clip GT (weights only)"),
    ("zs_vlm_1", "zero-shot labels, VLM 1 rendered view"),
    ("zs_vlm_n", "zero-shot labels, VLM N rendered views"),
    ("zs_oracle", "nf2vec oracle (supervised)"),
    ("img_clip2nerf", "image->NeRF R@1, clip2nerf GT"),
    ("img_vlm_mean", "image->NeRF R@1, VLM GT mean gallery"),
    ("img_vlm_all", "image->NeRF R@1, VLM GT all gallery"),
    ("txt_clip2nerf", "text->NeRF R@1, clip2nerf GT"),
    ("txt_clip2nerf_mm", "text->NeRF R@1, clip2nerf GT multimodal"),
    ("txt_vlm_mean", "text->NeRF R@1, VLM GT mean gallery"),
    ("tour_text", "tour text queries, right class first (of 6)"),
    ("tour_text5", "tour text queries, right class in top 5 (of 6)"),
    ("tour_photo5", "tour photo query, right class in top 5 (0/1)"),
]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"override {item!r}: expected key=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def ensure_base(workdir: Path, preset: str, workers: int, upto: str | None = None,
                fit_seed: int | None = None) -> Any:
    """Run (or find cached) the demo's stages in the base workdir, all or up to ``upto``;
    returns the Demo. ``fit_seed``: the NeRFs' fitting seed (FitConfig.seed: their shared
    initialisation and ray order), default the demo's seed (0)."""
    from clip2nerf.demo import Demo, DemoConfig

    # The demo's stages; the evaluation measures what the spread needs (1 and N views).
    extra = TINY_DEMO if preset == "tiny" else {"eval_overrides": dict(SEED_EVAL)}
    if fit_seed is not None:
        extra = {**extra, "fit_overrides": {**extra.get("fit_overrides", {}), "seed": fit_seed}}
    demo = Demo(DemoConfig(workdir=workdir, preset=preset, workers=workers, **extra),
                echo=lambda m: print(m, file=sys.stderr, flush=True))
    stages = demo.stages()
    if upto is not None:
        stages = stages[: [s.name for s in stages].index(upto) + 1]
    demo.runner.run_all(stages)
    return demo


def _link(src: Path, dst: Path) -> None:
    if dst.is_symlink() or dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src.resolve(), dst)


def run_seed(base: Any, out: Path, seed: int, nf2vec_over: dict, eval_over: dict,
             preset: str, nf2vec_only: bool = False, vlm: str = "zeroshot"
             ) -> dict[str, float] | None:
    """Train nf2vec + evaluate with ``seed`` in ``out`` (cached); returns the figures.
    ``vlm="adapted"``: the seed's workdir evaluates with the base's adapted VLM (its ``vlm``
    link points at the base's ``vlm-adapted``, its view and caption embeddings are the base's
    adapted evaluation's)."""
    from clip2nerf.demo import Demo, DemoConfig
    from clip2nerf.pipeline import StageRunner
    from clip2nerf.workdir import Workdir

    out.mkdir(parents=True, exist_ok=True)
    src, dst = base.workdir, Workdir(out)
    for name in SHARED:
        origin = src
        if vlm == "adapted" and name in ADAPTED_SHARED:
            origin = src.adapted
        path = src.vlm_adapted if vlm == "adapted" and name == "vlm" else getattr(origin, name)
        if path.exists():
            _link(path, getattr(dst, name))
    base_seed = base.cfg.seed
    if seed == base_seed and not nf2vec_over and not eval_over and vlm == "zeroshot":
        # What this seed would retrain is the base's own nf2vec and mappers.
        for name in PER_SEED:
            _link(getattr(src, name), getattr(dst, name))
    elif not nf2vec_over:
        # A mapper-only recipe: the same seed's nf2vec of the default recipe, if trained.
        default = Workdir(out.parent.parent / "default" / out.name)
        if seed == base_seed:
            _link(src.nf2vec, dst.nf2vec)
        elif (default.stages / "nf2vec.json").is_file() and default.root != out:
            _link(default.nf2vec, dst.nf2vec)
    base_eval = TINY_DEMO["eval_overrides"] if preset == "tiny" else {}
    cfg = DemoConfig(workdir=out, preset=preset, seed=seed, nf2vec_overrides=nf2vec_over,
                     eval_overrides={**base_eval, **SEED_EVAL, **eval_over})
    demo = Demo(cfg, echo=lambda m: print(f"[seed {seed}] {m}", file=sys.stderr, flush=True))
    stages = {s.name: s for s in demo.stages()}
    runner = StageRunner(out, echo=demo.echo)
    todo = [] if dst.nf2vec.is_symlink() else [stages["nf2vec"]]
    if nf2vec_only:
        runner.run_all(todo)
        return None
    runner.run_all(todo + [stages["eval"]])  # a retrained nf2vec reruns the evaluation
    return figures(demo)


def figures(demo: Any) -> dict[str, float]:
    """The headline figures of one evaluated workdir (its report/results.json + the tour's
    text queries)."""
    res = json.loads((demo.workdir.report / "results.json").read_text())
    t1 = {r["method"]: r["accuracy"] for r in res["zero_shot"]["table1"]}
    n2c = next(v for k, v in t1.items() if k.startswith("nerf2clip GT"))
    t3 = {r["method"]: r["recall"]["1"] for r in res["single_view"]["table3"]}
    t5 = {r["method"]: r["recall"]["1"] for r in res["text"]["table5"]}
    return {"zs_nerf2clip": n2c, "zs_vlm_1": t1["VLM baseline, 1 view"],
            "zs_vlm_n": t1["VLM baseline, N views"],
            "zs_oracle": next(v for k, v in t1.items() if k.startswith("nf2vec oracle")),
            "img_clip2nerf": t3["clip2nerf GT"], "img_vlm_mean": t3["VLM GT mean"],
            "img_vlm_all": t3["VLM GT all"], "txt_clip2nerf": t5["clip2nerf GT"],
            "txt_clip2nerf_mm": t5["clip2nerf GT multimodal"],
            "txt_vlm_mean": t5["VLM GT mean"], **tour_figures(demo),
            "n_objects": res["zero_shot"]["n_test"]}


def tour_figures(demo: Any) -> dict[str, float]:
    """The tour's searches (clip2nerf GT multimodal, gallery = the evaluated NeRFs): text
    queries whose first hit / any of the top 5 has the right class, and whether the photo
    query (a held-out view) has its class in the top 5."""
    from clip2nerf.apps import search
    from clip2nerf.apps.tour import TEXT_QUERIES
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.index import Gallery
    from clip2nerf.mapping import FeatureMapper
    from clip2nerf.utils.embeddings import load_embeddings
    from clip2nerf.vlm import load_vlm
    from clip2nerf.workdir import SEARCH_MAPPER

    want = {"a 3d model of a car": "car", "a jet plane": "airplane", "a couch": "sofa",
            "an office seat": "chair", "a sailing boat": "watercraft",
            "a computer monitor": "display"}
    w = demo.workdir
    table = load_embeddings(w.nerf_embeddings)
    ids = [i for i in demo._eval_ids() if i in set(table.ids)]
    gallery = Gallery.from_table(table.subset(ids))
    mapper = FeatureMapper.from_pretrained(w.mapper(SEARCH_MAPPER))
    vlm = load_vlm(str(w.vlm), device="cpu")
    top1 = top5 = 0
    for q in TEXT_QUERIES:
        labels = [h.label for h in search(gallery, mapper, vlm, text=q, k=5)]
        top1 += labels[0] == want[q]
        top5 += want[q] in labels
    ds = open_dataset(w.data)  # the tour's photo: the middle view of the first test object
    obj = ds.get(ds.object_ids("test")[0])
    hits = search(gallery, mapper, vlm, images=[obj.load_view(obj.n_views // 2)], k=5)
    return {"tour_text": float(top1), "tour_text5": float(top5),
            "tour_photo5": float(any(h.label == obj.class_name for h in hits))}


def ensemble_figures(demos: list[Any]) -> dict[str, float]:
    """One ensemble of the seeds' models (a lever of issue 13): each seed's workdir is a member
    (``clip2nerf.evaluation.ensemble``, as ``clip2nerf demo --ensemble K`` measures it):
    zero-shot labels from the mean of the seeds' nerf2clip outputs; retrieval ranks by the
    mean of the seeds' cosine scores. Queries are the first seed's (its random query views)."""
    from clip2nerf.evaluation import EvalPaths, prepare
    from clip2nerf.evaluation.ensemble import ensemble_results, own_member

    def artefacts(d):
        return prepare(EvalPaths(d.cfg.workdir), d._eval_config(), log=lambda m: None,
                       progress=False)

    first = artefacts(demos[0])
    members = [own_member(first)] + [own_member(artefacts(d)) for d in demos[1:]]
    ens = ensemble_results(first, demos[0]._eval_config(), members)["rows"][-1]
    return {"zs_nerf2clip": ens["labels"], "img_clip2nerf": ens["image_r1"],
            "txt_clip2nerf": ens["text_r1"], "txt_clip2nerf_mm": ens["text_r1_multimodal"]}


ENSEMBLE_FIGURES = ("zs_nerf2clip", "img_clip2nerf", "txt_clip2nerf", "txt_clip2nerf_mm")
"""Figures an ensemble recomputes; the others (VLM baselines and galleries, the oracle) are
its first seed's, whose query views the ensemble uses."""


def ensemble_spread(demos: dict[int, Any], per_seed: dict[int, dict[str, float]], k: int
                    ) -> dict[str, dict[str, float]]:
    """The ensemble recipe as its own spread: the seeds in consecutive disjoint groups of
    ``k`` (a left-over group smaller than ``k`` is dropped), one ensemble per group
    (``ensemble_figures``); keyed ``"s0+s1+..."``."""
    seeds = list(demos)
    out = {}
    for g in range(len(seeds) // k):
        group = seeds[g * k:(g + 1) * k]
        ens = ensemble_figures([demos[s] for s in group])
        out["+".join(map(str, group))] = {**per_seed[group[0]], **ens}
    return out


def table(per_seed: dict[Any, dict[str, float]]) -> str:
    seeds = sorted(per_seed) if all(isinstance(s, int) for s in per_seed) else list(per_seed)
    head = ("| figure | mean | min | max | " + " | ".join(f"seed {s}" for s in seeds) + " |")
    lines = [head, "|---|---|---|---|" + "---|" * len(seeds)]
    for key, label in FIGURES:
        vals = [per_seed[s][key] for s in seeds]
        if key.startswith("tour"):
            cells = [f"{statistics.fmean(vals):.1f}", f"{min(vals):.0f}", f"{max(vals):.0f}"]
            cells += [f"{v:.0f}" for v in vals]
        else:
            cells = [f"{100 * statistics.fmean(vals):.1f}%", f"{100 * min(vals):.1f}%",
                     f"{100 * max(vals):.1f}%"] + [f"{100 * v:.1f}%" for v in vals]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, required=True,
                    help="base demo workdir (made or resumed with the demo's stages)")
    ap.add_argument("--preset", choices=["tiny", "small", "bench"], default="small")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=None,
                    help="folder of the per-seed workdirs [default: WORKDIR-spread/TAG]")
    ap.add_argument("--tag", default="default", help="name of this recipe's folder")
    ap.add_argument("--nf2vec", nargs="*", default=[], metavar="KEY=VALUE",
                    help="nf2vec TrainConfig overrides (JSON values)")
    ap.add_argument("--eval", nargs="*", default=[], metavar="KEY=VALUE",
                    help="EvalConfig overrides (JSON values), e.g. nerf2clip_epochs=1000")
    ap.add_argument("--workers", type=int, default=2, help="NeRF-fitting processes (base)")
    ap.add_argument("--fit-seed", type=int, default=None,
                    help="fitting seed of the base's NeRFs (their shared initialisation and "
                         "ray order; default the demo's, 0). A base workdir holds one fitting "
                         "seed: give each its own --workdir (copy the base's data/ and "
                         ".stages/synth.json to skip synthesis)")
    ap.add_argument("--reuse-base", action="store_true",
                    help="take the base's VLM and view / caption embeddings as they are and run "
                         "only its synth and fit stages (e.g. a base made by an earlier release, "
                         "to keep new seeds comparable with its earlier ones)")
    ap.add_argument("--vlm", choices=["zeroshot", "adapted"], default="zeroshot",
                    help="the VLM of every seed's evaluation: the zero-shot VLM (the demo's "
                         "default), or the base's adapted VLM (a head fitted on the train "
                         "split: not zero-shot); use --tag adapted, nf2vec models are the "
                         "default tag's")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--ensemble", type=int, default=0, metavar="K",
                    help="also print the spread of K-seed ensembles: the seeds in consecutive "
                         "disjoint groups of K (nerf2clip outputs and clip2nerf cosine scores "
                         "averaged over a group's nf2vec + mapper models); VLM and oracle rows "
                         "are each group's first seed's")
    ap.add_argument("--nf2vec-only", action="store_true",
                    help="fit the base if needed, train the seeds' nf2vec models and stop "
                         "(e.g. while the base's own evaluation still runs; a rerun resumes)")
    args = ap.parse_args(argv)

    nf2vec_over, eval_over = parse_overrides(args.nf2vec), parse_overrides(args.eval)
    if (nf2vec_over or eval_over or args.vlm != "zeroshot") and args.tag == "default":
        raise SystemExit("overrides or another --vlm given: name the recipe with --tag")
    out = args.out or Path(f"{args.workdir}-spread") / args.tag
    t0 = time.perf_counter()
    base = ensure_base(args.workdir, args.preset, args.workers,
                       upto="fit" if args.nf2vec_only or args.reuse_base else None,
                       fit_seed=args.fit_seed)
    if args.nf2vec_only:
        for s in args.seeds:
            run_seed(base, out / f"seed-{s}", s, nf2vec_over, eval_over, args.preset, True)
        return 0
    per_seed = {}
    for s in args.seeds:
        per_seed[s] = run_seed(base, out / f"seed-{s}", s, nf2vec_over, eval_over, args.preset,
                               vlm=args.vlm)
        print(f"[seed {s}] " + ", ".join(f"{k} {v:.3f}" for k, v in per_seed[s].items()),
              file=sys.stderr, flush=True)
    if len(args.seeds) > 1:
        from clip2nerf.demo import Demo, DemoConfig

        ens = ensemble_figures([Demo(DemoConfig(workdir=out / f"seed-{s}", preset=args.preset,
                                                seed=s), echo=lambda m: None)
                                for s in args.seeds])
        print("[ensemble] " + ", ".join(f"{k} {v:.3f}" for k, v in ens.items()),
              file=sys.stderr, flush=True)
    n = {int(v["n_objects"]) for v in per_seed.values()}
    fit = "" if args.fit_seed is None else f", fitting seed {args.fit_seed}"
    print(f"Spread over seeds {args.seeds} ({args.preset}, base {args.workdir}{fit}, recipe "
          f"'{args.tag}': nf2vec {nf2vec_over or 'demo'}, eval {eval_over or 'demo'}, VLM "
          f"{args.vlm}); "
          f"{'/'.join(map(str, sorted(n)))} evaluated objects; {time.perf_counter() - t0:.0f} s")
    print(table(per_seed))
    if len(args.seeds) > 1:
        labels = dict(FIGURES)
        print(f"\nEnsemble of the {len(args.seeds)} seeds' models (mean of nerf2clip outputs; "
              "mean of cosine scores across nf2vec spaces; first seed's query views):")
        for k, v in ens.items():
            print(f"  {labels[k]}: {100 * v:.1f}%")
    ens_spread = None
    if args.ensemble > 1:
        from clip2nerf.demo import Demo, DemoConfig

        demos = {s: Demo(DemoConfig(workdir=out / f"seed-{s}", preset=args.preset, seed=s),
                         echo=lambda m: None) for s in args.seeds}
        ens_spread = ensemble_spread(demos, per_seed, args.ensemble)
        if ens_spread:
            print(f"\nEnsembles of {args.ensemble} seeds (disjoint groups; rows other than "
                  f"{', '.join(ENSEMBLE_FIGURES)} are the group's first seed's):")
            print(table(ens_spread))
    if args.json:
        args.json.write_text(json.dumps({"preset": args.preset, "tag": args.tag,
                                         "nf2vec": nf2vec_over, "eval": eval_over,
                                         "per_seed": per_seed,
                                         "ensemble": ens if len(args.seeds) > 1 else None,
                                         "ensemble_groups": ens_spread},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
