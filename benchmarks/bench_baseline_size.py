"""The VLM baseline of Table 1 at several rendering sizes, on a finished demo workdir.

    python benchmarks/bench_baseline_size.py --workdir clip2nerf-demo --sizes 64 128 --seeds 0 1 2 3 4

The demo's evaluation renders every dataset view from its NeRF at 64 px (`clip2nerf eval
--render-size`, default 64, the demo's time budget), while the zero-shot VLM reads its input at
160 px: the rendered baseline rows see upscaled views. This measures what that costs the
baseline. It renders the held-out objects' views from their NeRFs at each size (the evaluation's
renderer and ray samples; kept in `W/bench/baseline-size/<size>`, so a rerun only re-embeds),
embeds them with the workdir's VLM and classifies like the evaluation does (1-NN among
"a 3d model of a {class}"): the mean of 1 random view (the evaluation's view order for each
seed) and of all views. The ground-truth views (the dataset's own size) are the reference.

Prints one row per view source: accuracy on 1 view (mean, min and max over seeds), on all views,
and render time per view (of the views this run rendered; "(cached)" when none).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from clip2nerf.apps import prompt_embeddings
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.evaluation.experiments import mean_of_views, view_orders
    from clip2nerf.index import accuracy, classify_1nn
    from clip2nerf.nerf.render_dataset import render_dataset
    from clip2nerf.utils.embeddings import load_embeddings
    from clip2nerf.vlm import embed_views, load_vlm
    from clip2nerf.workdir import Workdir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True, help="a finished `clip2nerf demo` workdir")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--splits", nargs="+", default=["val", "test"],
                    help="the evaluated objects (the demo evaluates val+test)")
    ap.add_argument("--samples", type=int, default=128, help="ray samples (the evaluation's)")
    args = ap.parse_args()

    w = Workdir(args.workdir)
    vlm = load_vlm(str(w.vlm), device="cpu")
    gt = load_embeddings(w.gt_view_embeddings, expect_space=vlm.space)
    ds = open_dataset(w.data)
    ids = [i for split in args.splits for i in ds.object_ids(split)]
    classes = list(ds.classes)
    prompts = prompt_embeddings(vlm, classes)
    sources: dict[str, tuple[np.ndarray, str]] = {  # name -> (vectors, render ms/view cell)
        f"ground-truth views ({ds.get(ids[0]).intrinsics.width} px)": (gt.subset(ids).vectors, "")}
    for size in args.sizes:
        out = w / "bench" / "baseline-size" / str(size)
        done = [i for i in ids if (out / "views" / "objects" / i).is_dir()]
        t0 = time.perf_counter()
        render_dataset(w.nerfs, w.data, out / "views", ids=ids, resolution=size,
                       n_samples=args.samples, device="cpu", progress=False)
        took = time.perf_counter() - t0
        table = embed_views(out / "views", out / "embeddings", vlm, progress=False,
                            log=lambda _m: None, overwrite=True)
        n_views = table.vectors.shape[1]
        rendered = (len(ids) - len(done)) * n_views
        sources[f"rendered from the NeRFs at {size} px"] = (
            table.subset(ids).vectors, f"{1000 * took / rendered:.1f}" if rendered else "(cached)")
    truth = [ds.get(i).class_name for i in ids]

    print(f"VLM: {vlm.name}   workdir: {w.root}   {'+'.join(args.splits)}: {len(ids)} objects, "
          f"{len(classes)} classes, seeds {args.seeds}")
    print(f"{'views':<44} {'1 view: mean (min-max)':>24} {'all views':>10} {'render ms/view':>15}")
    for name, (vectors, cost) in sources.items():
        one = []
        for seed in args.seeds:
            order = view_orders(len(ids), vectors.shape[1], seed, salt=1)
            pred, _ = classify_1nn(mean_of_views(vectors, order, 1), prompts, classes)
            one.append(accuracy(pred, truth))
        order = view_orders(len(ids), vectors.shape[1], 0, salt=1)
        pred, _ = classify_1nn(mean_of_views(vectors, order, vectors.shape[1]), prompts, classes)
        every = accuracy(pred, truth)
        print(f"{name:<44} {100 * statistics.mean(one):>8.1f}% ({100 * min(one):.1f}-"
              f"{100 * max(one):.1f}) {100 * every:>9.1f}% {cost:>15}")


if __name__ == "__main__":
    main()
