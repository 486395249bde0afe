"""`describe` on held-out NeRFs: how often the best caption names the right class and main
colour, over nerf2clip seeds, beside bounds that locate where colour is lost.

Rows (all rank the same caption bank, the training objects' own captions):
- nerf2clip (seed s): the NeRF's stored nf2vec embedding mapped by a nerf2clip trained here
  (the paper's recipe, all views averaged) — what `clip2nerf describe` returns;
- VLM views: the VLM's mean embedding of the object's own clean views (nerf2clip's target):
  the best a perfect nerf2clip could do with this VLM;
- own caption: the object's own caption through the text tower: the bank's ceiling;
- bank coverage: share of objects for which the bank holds *some* caption of their class with
  their main colour (no ranking can do better).

    python benchmarks/bench_describe.py --workdir W [--vlm W/vlm] [--views W/emb/views-gt]
        [--seeds 0 1 2]

W needs data/ and emb/nerf.safetensors (made by `clip2nerf demo` or the eval stage).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from clip2nerf.apps.describe import Description, dataset_caption_bank, describe_scores
from clip2nerf.data.layouts import open_dataset
from clip2nerf.mapping import MapperConfig, TrainConfig, train_mapper
from clip2nerf.utils.embeddings import l2_normalize, load_embeddings
from clip2nerf.vlm import load_vlm


def describe_rows(queries: np.ndarray, ids, classes, bank) -> list[Description]:
    sims = l2_normalize(queries) @ l2_normalize(bank.vectors).T
    best = sims.argmax(1)
    return [Description(i, i, c, [(bank.texts[j], float(sims[r, j]), bank.classes[j])])
            for r, (i, c, j) in enumerate(zip(ids, classes, best, strict=True))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--vlm", default=None, help="[default: W/vlm]")
    ap.add_argument("--views", type=Path, default=None, help="[default: W/emb/views-gt]")
    ap.add_argument("--split", default="val+test")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--out", type=Path, default=None, help="results JSON [default: "
                    "W/describe-<vlm>.json]")
    args = ap.parse_args()
    w = args.workdir
    vlm = load_vlm(args.vlm or str(w / "vlm"), device="cpu")
    ds = open_dataset(w / "data")
    nerf = load_embeddings(w / "emb" / "nerf.safetensors")
    views = load_embeddings(args.views or w / "emb" / "views-gt")
    ids = [i for s in args.split.split("+") for i in ds.object_ids(s)]
    objs = [ds.get(i) for i in ids]
    classes = [o.class_name for o in objs]
    colours = [list(o.meta.get("colors", {}).values()) for o in objs]
    own = [o.caption or "" for o in objs]
    bank = dataset_caption_bank(vlm, w / "data", "train")

    def score(queries):
        return describe_scores(describe_rows(queries, ids, classes, bank), colours, own)

    rows = []
    t0 = time.perf_counter()
    for seed in args.seeds:
        cfg = MapperConfig(direction="nerf2clip", vlm_space=vlm.space, vlm_dim=vlm.dim,
                           nf2vec_space=nerf.space, nf2vec_dim=nerf.dim,
                           train=TrainConfig.paper("nerf2clip", epochs=args.epochs, seed=seed))
        res = train_mapper(cfg, nerf, views, ds.object_ids("train"), None, progress=False)
        rows.append({"row": f"nerf2clip seed {seed}",
                     **score(res.model.map(nerf.subset(ids).vectors))})
        print(rows[-1], flush=True)
    rows.append({"row": "VLM views (perfect nerf2clip)",
                 **score(views.subset(ids).vectors.mean(axis=1))})
    rows.append({"row": "own caption (text tower)", **score(vlm.embed_texts(own))})
    from clip2nerf.apps.describe import colour_words

    covered = 0
    for c, cap in zip(classes, own, strict=True):
        main = (colour_words(cap) or [None])[0]
        covered += any(bc == c and (colour_words(t) or [None])[0] == main
                       for t, bc in zip(bank.texts, bank.classes, strict=True))
    result = {"vlm": vlm.name, "split": args.split, "n": len(ids), "bank": bank.source,
              "bank_coverage": covered / len(ids), "rows": rows,
              "seconds": round(time.perf_counter() - t0, 1)}
    out = args.out or w / f"describe-{vlm.name.replace('@', '-')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"VLM {vlm.name}; {len(ids)} held-out NeRFs ({args.split}); bank: {bank.source}; "
          f"bank holds a caption of the right class and main colour for "
          f"{100 * result['bank_coverage']:.0f}%")
    print("| best caption from | class right | main colour right | colour-word precision |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['row']} | {100 * r['class']:.1f}% | {100 * r['main_colour']:.1f}% | "
              f"{100 * r['colour_precision']:.1f}% |")


if __name__ == "__main__":
    main()
