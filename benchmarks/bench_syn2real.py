"""Table 4 analogue on a workdir with NeRF and view embeddings (no full `eval` needed).

    python benchmarks/bench_syn2real.py --workdir W [--vlm W/vlm] [--split val+test]

W needs data/, emb/nerf.safetensors and emb/views-gt/ (made with the VLM given). Writes
W/syn2real/results.json and prints the table (see clip2nerf.evaluation.syn2real).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

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
    ap.add_argument("--controlnet-views", type=Path, default=None)
    args = ap.parse_args()
    w = Workdir(args.workdir)
    vlm = load_vlm(args.vlm or str(w.vlm), device="cpu")
    t0 = time.perf_counter()
    res = syn2real_retrieval(w.root, w.data, vlm, load_embeddings(w.nerf_embeddings),
                             load_embeddings(args.views or w.gt_view_embeddings), args.split,
                             seed=args.seed, epochs=args.epochs, lr=args.lr,
                             controlnet_views=args.controlnet_views)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    (w.syn2real / f"results-{vlm.name.replace('@', '-')}-seed{args.seed}.json").write_text(
        json.dumps(res, indent=2))
    print(syn2real_markdown(res))
    print(f"{res['seconds']} s (augment + embed {res['prepare_seconds']} s)")


if __name__ == "__main__":
    main()
