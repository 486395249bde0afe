"""Offline VLM image towers on clean and photo-style held-out views (zero-shot labels).

Builds, on the training split of a dataset, the knn tower and the cnn tower, each plain and
with photo-style images of the training objects (``augment photo --split train`` on the
training photos), and the cnn tower with photo backgrounds drawn afresh at every step
(``--photo-backgrounds``, ``+bg`` rows), then labels held-out (val+test) views zero-shot with "a 3d model of a
{class}": clean renders, and a photo-style query set on held-out photos.

    python benchmarks/bench_towers.py --data W/data --out W/towers [--epochs 30] [--seed 0]
        [--towers knn knn+photo cnn cnn+photo cnn+bg cnn+photo+bg] [--channels 32 64 128 256]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from clip2nerf.augment import augment_photo
from clip2nerf.classes import ZERO_SHOT_TEMPLATE
from clip2nerf.data.layouts import open_dataset
from clip2nerf.vlm.offline import OfflineVLMConfig
from clip2nerf.vlm.train_offline import OfflineTrainConfig, prepare_offline

TEMPLATE = ZERO_SHOT_TEMPLATE
TOWERS = ("knn", "knn+photo", "cnn", "cnn+photo", "cnn+bg", "cnn+photo+bg")


def views_of(ds, ids):
    images, labels = [], []
    for oid in ids:
        obj = ds.get(oid)
        images.extend(obj.load_views())
        labels.extend([obj.class_name] * obj.n_views)
    return images, labels


def accuracy(vlm, images, labels, classes) -> float:
    emb = vlm.embed_images(images)
    prompts = vlm.embed_texts([TEMPLATE.format(c) for c in classes])
    pred = np.argmax(emb @ prompts.T, axis=1)
    return float(np.mean([classes[p] == lab for p, lab in zip(pred, labels, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--views-per-object", type=int, default=7)
    ap.add_argument("--eval-split", default="val+test")
    ap.add_argument("--seed", type=int, default=0, help="cnn training seed")
    ap.add_argument("--photo-backgrounds", type=float, default=0.5,
                    help="share of views recomposed over training photos in the +bg rows")
    ap.add_argument("--towers", nargs="+", default=list(TOWERS), choices=list(TOWERS))
    ap.add_argument("--channels", type=int, nargs="+", default=None,
                    help="cnn conv widths per stage [default: OfflineVLMConfig's 16 32 64 128]")
    args = ap.parse_args()
    ds = open_dataset(args.data)
    out = args.out
    aug = augment_photo(args.data, out / "photo-train", "train", args.views_per_object,
                        progress=False, log=print)
    evals = args.eval_split.split("+")
    eval_ids = [i for s in evals for i in ds.object_ids(s)]
    clean_images, clean_labels = views_of(ds, eval_ids)
    photo_images, photo_labels = [], []
    for s in evals:
        q = augment_photo(args.data, out / f"photo-{s}", s, args.views_per_object,
                          progress=False, log=print)
        qi, ql = views_of(open_dataset(q), open_dataset(q).object_ids())
        photo_images += qi
        photo_labels += ql
    rows = []
    for name in args.towers:
        tower, extra = name.split("+")[0], aug if "+photo" in name else None
        bg = args.photo_backgrounds if name.endswith("+bg") else 0.0
        tcfg = OfflineTrainConfig(epochs=args.epochs, seed=args.seed, photo_backgrounds=bg,
                                  extra_views=str(extra) if extra else None)
        mcfg = OfflineVLMConfig(image_tower=tower)
        if args.channels and tower == "cnn":
            mcfg.channels = tuple(args.channels)
            name += "-ch" + "-".join(map(str, args.channels))
        if args.seed:
            name += f"-seed{args.seed}"
        t0 = time.perf_counter()
        vlm = prepare_offline(args.data, out / name, mcfg,
                              tcfg, device="cpu", progress=False, log=print)
        secs = time.perf_counter() - t0
        rows.append({"tower": name, "vlm": vlm.name, "build_s": round(secs, 1),
                     "clean": accuracy(vlm, clean_images, clean_labels, ds.classes),
                     "photo": accuracy(vlm, photo_images, photo_labels, ds.classes)})
        print(rows[-1], flush=True)
    result = {"data": str(args.data), "eval_split": args.eval_split,
              "n_clean": len(clean_images), "n_photo": len(photo_images),
              "chance": 1 / len(ds.classes), "rows": rows}
    (out / f"towers-{'-'.join(args.towers)}-seed{args.seed}.json").write_text(json.dumps(result, indent=2))
    print(f"zero-shot '{TEMPLATE}' on {len(eval_ids)} held-out objects ({args.eval_split}): "
          f"{len(clean_images)} clean views, {len(photo_images)} photo-style images")
    print("| tower | clean | photo-style | build s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['tower']} | {100 * r['clean']:.1f}% | {100 * r['photo']:.1f}% | "
              f"{r['build_s']} |")


if __name__ == "__main__":
    main()
