"""Mapping networks on synthetic linked data: does training learn the link, at what cost?

Synthetic data (``linked_tables`` from ``tests/mapping/linked_tables.py``): 13 classes, Gaussian class
clusters in a latent space, mapped into a 1024-d "nf2vec" space and a VLM-sized "view" space
(36 views per object, per-view noise) by fixed random nonlinear maps. For each recipe it trains
on the train split and reports, on the val split, the class recall@1 of mapped queries against
the val gallery of the other space (query's own object excluded, as in the paper), and the
training time. Reference rows: chance, and the VLM-only baseline (single view vs mean-view
gallery, no mapping).

    python benchmarks/bench_mapping.py [--objects 300] [--views 36] [--vlm-dim 384]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from clip2nerf.mapping import MapperConfig, TrainConfig, class_recall_at_1, train_mapper

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "mapping"))

from linked_tables import linked_tables, split_ids  # noqa: E402  (the tests' synthetic data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=300)
    ap.add_argument("--views", type=int, default=36)
    ap.add_argument("--vlm-dim", type=int, default=384)
    ap.add_argument("--classes", type=int, default=13)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--object-spread", type=float, default=1.0,
                    help="within-class spread of the latent codes (class centres have std 1)")
    ap.add_argument("--view-noise", type=float, default=0.5, help="per-view latent noise")
    ap.add_argument("--recipes", default="clip2nerf:150:1e-5,clip2nerf:150:1e-3,"
                    "clip2nerf:20:1e-3,clip2nerf:10:1e-3,nerf2clip:100:1e-3,nerf2clip:20:1e-3",
                    help="direction:epochs:lr, comma-separated")
    args = ap.parse_args()

    nerf, views, _ = linked_tables(n_classes=args.classes,
                                   per_class=max(2, args.objects // args.classes),
                                   n_views=args.views, vlm_dim=args.vlm_dim, seed=args.seed,
                                   object_spread=args.object_spread, view_noise=args.view_noise)
    train, val = split_ids(nerf.ids, 0.2, seed=args.seed)
    vv, vn = views.subset(val), nerf.subset(val)
    n_classes = len(set(vn.labels))
    print(f"{len(nerf)} objects x {args.views} views, {n_classes} classes; "
          f"train {len(train)}, val {len(val)}; VLM dim {args.vlm_dim}")
    print("| recipe | epochs | lr | val recall@1 | val loss | train s | recall@1 at 10/25/50% "
          "of epochs |")
    print("|---|---|---|---|---|---|---|")
    print(f"| chance (1/classes) | - | - | {1 / n_classes:.3f} | - | - | |")
    # Reference without any mapping: one view queries the mean-view gallery (paper "GT mean").
    q = vv.vectors[:, 0]
    r = class_recall_at_1(q, np.arange(len(q)), vv.vectors.mean(axis=1), vv.labels)
    print(f"| VLM only: view vs mean-view gallery | - | - | {r:.3f} | - | - | |")
    r = class_recall_at_1(vn.vectors, np.arange(len(vn)), vn.vectors, vn.labels)
    print(f"| nf2vec only: NeRF vs NeRF gallery | - | - | {r:.3f} | - | - | |")
    for recipe in args.recipes.split(","):
        direction, epochs, lr = recipe.split(":")
        cfg = MapperConfig(direction, views.space, views.dim, nerf.space,
                           train=TrainConfig.paper(direction, epochs=int(epochs), lr=float(lr),
                                                   seed=args.seed))
        t0 = time.perf_counter()
        res = train_mapper(cfg, nerf, views, train, val, progress=False)
        dt = time.perf_counter() - t0
        last = res.history[-1]
        curve = "/".join(f"{res.history[max(0, int(f * len(res.history)) - 1)]['val_recall@1']:.2f}"
                         for f in (0.1, 0.25, 0.5))
        print(f"| {direction} | {epochs} | {lr} | {last['val_recall@1']:.3f} | "
              f"{last['val_loss']:.4f} | {dt:.1f} | {curve} |", flush=True)


if __name__ == "__main__":
    main()
