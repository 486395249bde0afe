"""Table 4 analogue on a workdir with NeRF and view embeddings (no full `eval` needed).

    python benchmarks/bench_syn2real.py --workdir W [--vlm W/vlm] [--split val+test]
        [--seeds 0 1 2]

With several seeds, a seed whose results file exists is read back (not rerun) and the table
gives mean [min-max] over the seeds.

W needs data/, emb/nerf.safetensors and emb/views-gt/ (made with the VLM given). Writes
W/syn2real/results.json and prints the table (see clip2nerf.evaluation.syn2real).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from clip2nerf.evaluation.syn2real import syn2real_markdown, syn2real_retrieval
from clip2nerf.utils.embeddings import load_embeddings
from clip2nerf.vlm import load_vlm
from clip2nerf.workdir import Workdir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--vlm", default=None, help="VLM spec [default: W/vlm].")
    ap.add_argument("--views", type=Path, default=None, help="[default: W/emb/views-gt]")
    ap.add_argument("--split", default="val+test")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="several seeds (augmentation, query views, mapper init/order)")
    ap.add_argument("--controlnet-views", type=Path, default=None)
    args = ap.parse_args()
    w = Workdir(args.workdir)
    vlm = load_vlm(args.vlm or str(w.vlm), device="cpu")
    if args.seeds:
        results = []
        for seed in args.seeds:
            f = w.syn2real / f"results-{vlm.name.replace('@', '-')}-seed{seed}.json"
            results.append(json.loads(f.read_text()) if f.exists() else run(args, w, vlm, seed))
        print(summary(results))
        return
    res = run(args, w, vlm, args.seed)
    print(syn2real_markdown(res))
    print(f"{res['seconds']} s (augment + embed {res['prepare_seconds']} s)")


def run(args, w: Workdir, vlm, seed: int) -> dict:
    t0 = time.perf_counter()
    res = syn2real_retrieval(w.root, w.data, vlm, load_embeddings(w.nerf_embeddings),
                             load_embeddings(args.views or w.gt_view_embeddings), args.split,
                             seed=seed, epochs=args.epochs, lr=args.lr,
                             controlnet_views=args.controlnet_views)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    (w.syn2real / f"results-{vlm.name.replace('@', '-')}-seed{seed}.json").write_text(
        json.dumps(res, indent=2))
    return res


def summary(results: list[dict]) -> str:
    """Mean [min-max] of every row's recall over the seeds' results."""
    first = results[0]
    lines = [f"VLM `{first['vlm']}`, {first['n_eval_objects']} objects ({first['split']}), "
             f"{first['n_photo_queries']} photo-style / {first['n_clean_queries']} clean queries "
             f"per seed; seeds {[r['recipe']['seed'] for r in results]}; mean [min-max]", "",
             "| queries | method | R@1 | R@5 | R@10 |", "|---|---|---|---|---|"]
    for i, row in enumerate(first["rows"]):
        cells = []
        for k in ("1", "5", "10"):
            recalls = [{str(j): v for j, v in r["rows"][i]["recall"].items()} for r in results]
            vals = [100 * rec[k] for rec in recalls if k in rec]  # int keys until saved
            cells.append(f"{np.mean(vals):.1f} [{min(vals):.1f}-{max(vals):.1f}]" if vals
                         else "-")
        lines.append(f"| {row['queries']} | {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
