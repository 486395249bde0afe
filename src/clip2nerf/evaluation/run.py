"""``run_eval``: prepare the artefacts, run every experiment, write the report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from clip2nerf.evaluation.config import EvalConfig, EvalPaths
from clip2nerf.evaluation.experiments import (
    multiview_retrieval,
    single_view_retrieval,
    text_retrieval,
    zero_shot,
)
from clip2nerf.evaluation.prepare import Artefacts, prepare
from clip2nerf.evaluation.report import findings, write_report
from clip2nerf.evaluation.results import EvalMeta, EvalResults
from clip2nerf.utils.io import atomic_write_json
from clip2nerf.workdir import clip2nerf_spec, nerf2clip_spec

OFFLINE_NOTE = ("This is the project's offline LiT-style model (frozen all-MiniLM-L6-v2 text "
                "tower + an image tower trained on this project's synthetic renders; see its "
                "config.json), **not CLIP**: absolute numbers are not comparable with the "
                "paper's, only the relative findings are.")


KNN_NOTE = (" Its image tower is a nearest-neighbour memory: an image embeds as the "
            "similarity-weighted mean of the caption embeddings of its most similar *training* "
            "views (greyscale thumbnails). Every VLM image embedding of an evaluated object is "
            "therefore built from train-split captions, which makes the VLM baselines below "
            "close to a supervised kNN classifier rather than a zero-shot model. At "
            "thumbnail size a well-fitted NeRF's render matches the ground-truth view, so the "
            "GT and rendered rows below can be identical.")


def vlm_note(vlm) -> str:
    """What the report must say about the VLM (offline and pretrained models are not CLIP;
    only the zero-shot one never saw the dataset)."""
    describe = getattr(vlm, "describe", None)
    if vlm.name.startswith(("conse-", "adapted-")) and callable(describe):
        return describe() + (
            " Absolute numbers are not comparable with the paper's CLIP figures; the relative "
            "findings are the point." if vlm.name.startswith("conse-") else
            " Its VLM baselines are therefore not zero-shot: read them as a model adapted to "
            "this dataset's renders, beside the zero-shot report.")
    if not vlm.name.startswith("offline"):
        return ""
    knn = getattr(getattr(vlm, "config", None), "image_tower", None) == "knn"
    return OFFLINE_NOTE + (KNN_NOTE if knn else "")


def run_experiments(art: Artefacts, cfg: EvalConfig, log: Callable[[str], None] = print
                    ) -> EvalResults:
    """Every table's numbers (see ``experiments``), without the report metadata."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models; extra threads only spin on a shared CPU
    try:
        log("Table 1/2: zero-shot classification")
        zs = zero_shot(art, cfg, log)
        log("Table 3: single-view image retrieval")
        sv = single_view_retrieval(art, cfg, log)
        log("Fig. 7: multi-view image retrieval")
        mv = multiview_retrieval(art, cfg)
        log("Table 5: text retrieval")
        tx = text_retrieval(art, cfg)
    finally:
        torch.set_num_threads(threads)
    return EvalResults(zs, sv, mv, tx)


def run_eval(paths: EvalPaths, cfg: EvalConfig, command: str = "",
             log: Callable[[str], None] = print, progress: bool = True) -> Path:
    """Make what is missing, run the experiments, write ``W/report/report.md``; returns it."""
    t0 = time.perf_counter()
    art = prepare(paths, cfg, log, progress)
    res = run_experiments(art, cfg, log)
    ds = art.dataset
    c2n = art.mapper(clip2nerf_spec("gt")).config.train
    n2c = art.mapper(nerf2clip_spec("gt", art.n_views)).config.train
    meta = EvalMeta(
        vlm=art.vlm.name, vlm_dim=art.vlm.dim,
        vlm_note=vlm_note(art.vlm),
        dataset=ds.name, preset=ds.info.get("preset", "-"), split=cfg.split,
        n_objects=len(art.nerf), n_views=art.n_views,
        split_sizes={k: len(v) for k, v in art.splits.items()},
        nf2vec_space=art.nf2vec.space, nerfs=str(paths.nerfs), template=cfg.template,
        mapper_recipe=(f"clip2nerf {c2n.epochs} epochs lr {c2n.lr:g} (paper {c2n.paper_epochs}"
                       f"/{c2n.paper_lr:g}), nerf2clip {n2c.epochs} epochs lr {n2c.lr:g} "
                       f"(paper {n2c.paper_epochs}/{n2c.paper_lr:g}); AdamW, one-cycle, "
                       "weight decay 1e-2, batch 64, cosine loss. With "
                       f"{len(art.splits['train'])} training objects that is "
                       f"{c2n.epochs * -(-len(art.splits['train']) * art.n_views // c2n.batch_size)}"
                       " optimiser steps for clip2nerf and "
                       f"{n2c.epochs * -(-len(art.splits['train']) // n2c.batch_size)} for "
                       "nerf2clip (the paper's ~31k training NeRFs give ~480 nerf2clip steps "
                       "per epoch)."),
        timing=(f"device {cfg.device}, 1 torch thread, median of {cfg.timing_repeats}+ "
                "repeats after a warm-up; measured on a shared 2-core machine under load, so "
                "compare ratios, not absolute values."),
        command=command or "run_eval(...)",
        config=cfg.to_dict(), seconds=time.perf_counter() - t0,
    )
    res = replace(res, meta=meta, findings=tuple(findings(res)))
    if cfg.syn2real:
        from clip2nerf.evaluation.syn2real import syn2real_retrieval

        log("Table 4 analogue: photo-style queries (syn2real)")
        res = replace(res, syn2real=syn2real_retrieval(
            paths.workdir, paths.data, art.vlm, art.nerf, art.views_gt, cfg.split,
            seed=cfg.seed, epochs=c2n.epochs, lr=c2n.lr,
            controlnet_views=cfg.controlnet_views, log=log))
    out = paths.layout.report
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", res.to_dict())
    from clip2nerf.evaluation.experiments import retrieval_examples

    examples = retrieval_examples(art, cfg, paths.rendered)
    path = write_report(res, out, examples)
    if res.syn2real is not None:
        from clip2nerf.evaluation.syn2real import syn2real_markdown
        from clip2nerf.utils.io import atomic_write_text

        atomic_write_text(path, path.read_text() + "\n" + syn2real_markdown(res.syn2real))
    log(f"wrote {path} ({time.perf_counter() - t0:.0f} s)")
    return path
