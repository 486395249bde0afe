"""Table 4 analogue: does photo-style augmentation lift retrieval from photo-style queries?

On a finished demo / eval workdir W (data, NeRF embeddings, view embeddings, offline VLM):

1. ``augment photo`` 7 images per training object on the *training* photos, and a held-out
   query set (7 per evaluated object) on photos training never sees;
2. embed both with the VLM (``vlm embed-views``);
3. train clip2nerf on the training objects' views only ("renders only") and with the photo
   images added as extra pairs (the paper's 7 renders + 7 generated per object, here all
   renders + 7 photo composites), same recipe, same seed;
4. recall@1/5/10 (query's own object excluded, hit = same class) of every held-out
   photo-style image and of 7 random clean views per evaluated object, against the nf2vec
   gallery (clip2nerf) and the VLM-gallery baselines (mean / all of the GT view embeddings).

    python benchmarks/bench_syn2real.py --workdir W [--vlm W/vlm] [--split val+test]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from clip2nerf.augment import augment_photo
from clip2nerf.data.dataset import open_dataset
from clip2nerf.index import Gallery
from clip2nerf.index.metrics import recall_at_k
from clip2nerf.mapping import MapperConfig, TrainConfig, train_mapper
from clip2nerf.utils.embeddings import EmbeddingTable, load_embeddings
from clip2nerf.vlm import load_vlm
from clip2nerf.vlm.embed_views import embed_views

KS = (1, 5, 10)


def flat_queries(table: EmbeddingTable) -> tuple[np.ndarray, list[str], list[str]]:
    v = table.vectors
    n, k = v.shape[:2]
    return (v.reshape(n * k, -1), [i for i in table.ids for _ in range(k)],
            [c for c in table.labels for _ in range(k)])


def recall(gallery: Gallery, q: np.ndarray, ids: list[str], labels: list[str]) -> dict:
    found, _ = gallery.search(q, max(KS), exclude_ids=ids)
    return {k: round(100 * v, 1) for k, v in recall_at_k(labels, gallery.labels_of(found),
                                                          KS).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--vlm", default=None, help="VLM spec [default: W/vlm].")
    ap.add_argument("--split", default="val+test", help="Evaluated objects (test or val+test).")
    ap.add_argument("--views-per-object", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="syn2real")
    args = ap.parse_args()
    w = args.workdir
    out = w / args.tag
    vlm = load_vlm(args.vlm or str(w / "vlm"), device="cpu")
    ds = open_dataset(w / "data")
    evals = args.split.split("+")
    t0 = time.perf_counter()
    folders = {"train": out / "photo-train"}
    folders.update({s: out / f"photo-{s}" for s in evals})
    for split, folder in folders.items():
        augment_photo(w / "data", folder, split=split, views_per_object=args.views_per_object,
                      seed=args.seed, progress=False, log=print)
    t_aug = time.perf_counter() - t0
    emb = {s: embed_views(f, out / "emb" / f"photo-{s}", vlm, progress=False, log=print)
           for s, f in folders.items()}
    t_emb = time.perf_counter() - t0 - t_aug
    nerf = load_embeddings(w / "emb" / "nerf.safetensors")
    views = load_embeddings(w / "emb" / "views-gt", expect_space=vlm.space)
    train_ids, val_ids = ds.object_ids("train"), ds.object_ids("val")
    eval_ids = [i for s in evals for i in ds.object_ids(s)]
    mappers = {}
    for name, extra in (("renders only", None), ("+ photo-style", emb["train"])):
        cfg = MapperConfig(direction="clip2nerf", vlm_space=vlm.space, vlm_dim=vlm.dim,
                           nf2vec_space=nerf.space, nf2vec_dim=nerf.dim,
                           train=TrainConfig.paper("clip2nerf", epochs=args.epochs, lr=args.lr,
                                                   seed=args.seed))
        val = None if "val" in evals else val_ids
        t = time.perf_counter()
        res = train_mapper(cfg, nerf, views, train_ids, val, None, None, progress=False,
                           extra_views=extra)
        mappers[name] = (res.model, time.perf_counter() - t, res.n_train_pairs)
    # Queries: every held-out photo-style image; 7 random clean GT views per evaluated object.
    photo = EmbeddingTable.concat([emb[s] for s in evals]).subset(eval_ids)
    rng = np.random.default_rng(args.seed)
    gt = views.subset(eval_ids)
    pick = np.stack([rng.choice(gt.vectors.shape[1], args.views_per_object, replace=False)
                     for _ in eval_ids])
    clean = EmbeddingTable(np.take_along_axis(gt.vectors, pick[:, :, None], axis=1), gt.ids,
                           gt.labels, gt.space)
    galleries = {"VLM GT mean": Gallery.from_table(gt, "mean"),
                 "VLM GT all": Gallery.from_table(gt, "all")}
    nf = Gallery.from_table(nerf.subset(eval_ids))
    rows = []
    for qname, table in (("photo-style (held-out photos)", photo), ("clean views", clean)):
        q, ids, labels = flat_queries(table)
        for gname, g in galleries.items():
            rows.append({"queries": qname, "method": gname, "recall": recall(g, q, ids, labels)})
        for mname, (model, _, _) in mappers.items():
            rows.append({"queries": qname, "method": f"clip2nerf GT {mname}",
                         "recall": recall(nf, model.map(q), ids, labels)})
    result = {"workdir": str(w), "vlm": vlm.name, "split": args.split,
              "n_eval_objects": len(eval_ids), "n_photo_queries": int(len(photo) *
                                                                       photo.vectors.shape[1]),
              "train_pairs": {k: v[2] for k, v in mappers.items()},
              "seconds": {"augment": round(t_aug, 1), "embed": round(t_emb, 1),
                          **{f"train {k}": round(v[1], 1) for k, v in mappers.items()}},
              "rows": rows}
    (out / "results.json").write_text(json.dumps(result, indent=2))
    print(f"VLM {vlm.name}; {len(eval_ids)} evaluated objects ({args.split}); "
          f"{result['n_photo_queries']} photo-style queries; train pairs {result['train_pairs']}")
    print("| queries | method | R@1 | R@5 | R@10 |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['queries']} | {r['method']} | " + " | ".join(f"{r['recall'][k]:.1f}"
                                                             for k in KS) + " |")
    print(json.dumps(result["seconds"]))


if __name__ == "__main__":
    main()
