"""Offline (or any) VLM on held-out views: zero-shot accuracy and a paraphrase set.

    python benchmarks/vlm_zero_shot.py --data /work/runs/data/small --vlm /work/runs/vlm/knn1

Prints a table: zero-shot accuracy of test-split views with "a 3d model of a {class}" (per view
and per object with views averaged), and for each paraphrase the class whose mean test-view
embedding is nearest (text -> image retrieval) next to the nearest class prompt (text only).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

# At least one free-form query per class; none of these words is a class name of the dataset.
PARAPHRASES = {
    "a jet plane": "airplane", "an aircraft": "airplane", "an airliner": "airplane",
    "a park bench": "bench", "a wooden seat for several people": "bench",
    "a cupboard": "cabinet", "a chest of drawers": "cabinet",
    "an automobile": "car", "a sedan": "car",
    "an office seat": "chair", "an armchair": "chair",
    "a monitor": "display", "a computer screen": "display",
    "a desk light": "lamp", "a floor lamp": "lamp",
    "a loudspeaker": "speaker", "a hi-fi speaker box": "speaker",
    "a gun": "rifle", "a hunting rifle": "rifle",
    "a couch": "sofa", "a settee": "sofa",
    "a dining table": "table", "a desk": "table",
    "a smartphone": "phone", "a mobile phone": "phone",
    "a sailing boat": "watercraft", "a ship": "watercraft",
}


def main() -> None:
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.vlm import ZERO_SHOT_TEMPLATE, load_vlm, zero_shot_accuracy

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--vlm", default="offline")
    ap.add_argument("--split", default="test")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    ds = open_dataset(args.data)
    vlm = load_vlm(args.vlm, device=args.device)
    objs = [o for o in ds.iter_objects(args.split) if o.class_name in ds.classes]
    t0 = time.time()
    views = np.concatenate([o.load_views() for o in objs])
    emb = vlm.embed_images(views)
    ms = 1000 * (time.time() - t0) / len(views)
    labels = [o.class_name for o in objs for _ in range(o.n_views)]
    prompts = vlm.embed_texts([ZERO_SHOT_TEMPLATE.format(c) for c in ds.classes])
    per_obj = emb.reshape(len(objs), -1, vlm.dim).mean(1)
    per_obj /= np.linalg.norm(per_obj, axis=1, keepdims=True)
    print(f"VLM: {vlm.name}   data: {ds.root} ({args.split}: {len(objs)} objects, "
          f"{len(views)} views, {len(ds.classes)} classes)   {ms:.2f} ms/view incl. PNG decode")
    print(f"zero-shot '{ZERO_SHOT_TEMPLATE}' per view   : "
          f"{zero_shot_accuracy(emb, labels, prompts, ds.classes):.3f}")
    print(f"zero-shot '{ZERO_SHOT_TEMPLATE}' per object : "
          f"{zero_shot_accuracy(per_obj, [o.class_name for o in objs], prompts, ds.classes):.3f}")

    means = np.stack([emb[[lab == c for lab in labels]].mean(0) for c in ds.classes])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    q = vlm.embed_texts(list(PARAPHRASES))
    by_img = [ds.classes[i] for i in np.argmax(q @ means.T, axis=1)]
    by_prompt = [ds.classes[i] for i in np.argmax(q @ prompts.T, axis=1)]
    print(f"\n{'paraphrase':<34}{'want':<12}{'text->images':<14}{'text->prompts':<14}")
    for (text, want), a, b in zip(PARAPHRASES.items(), by_img, by_prompt, strict=True):
        print(f"{text:<34}{want:<12}{a + (' ' if a == want else ' X'):<14}"
              f"{b + (' ' if b == want else ' X'):<14}")
    n = len(PARAPHRASES)
    hit_img = sum(a == w for a, w in zip(by_img, PARAPHRASES.values(), strict=True))
    hit_txt = sum(b == w for b, w in zip(by_prompt, PARAPHRASES.values(), strict=True))
    print(f"paraphrases right: text->class-mean image embedding {hit_img}/{n}, "
          f"text->class prompt {hit_txt}/{n}")


if __name__ == "__main__":
    main()
