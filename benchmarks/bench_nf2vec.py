"""nf2vec benchmark: decoder PSNR, oracle accuracy, recall@1, encoder throughput, train time.

    python benchmarks/bench_nf2vec.py --model MODEL --nerfs NERFS --data DATA [--json OUT]

- decoder PSNR: views decoded from each test NeRF's embedding vs the NeRF's own renders
  (same cameras, white background, whole image).
- oracle: logistic regression on train(+val) embeddings, accuracy on test (the paper's
  "nf2vec oracle"); chance is 1 / n_classes.
- recall@1: nearest neighbour (cosine) among test embeddings, query excluded, hit = same class.
- encoder throughput: NeRF weight matrices already in memory, batches of --batch-size (the
  cost of reading files is reported separately).
- training seconds per epoch: from the model's history.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from clip2nerf.utils.recall import dense_recall_at_k


def _recall_at_1(x: np.ndarray, labels: list[str]) -> float:
    """recall@1 of each row among the others (its own object excluded)."""
    return dense_recall_at_k(x, x, np.arange(len(x)), labels, (1,))[1]


class _Rows(list):
    """Table rows, also echoed to stderr as they come (long runs show progress)."""

    def __init__(self, items):
        super().__init__()
        for it in items:
            self.append(it)

    def append(self, row):
        print(f"  {row[0]}: {row[1]}", file=sys.stderr, flush=True)
        super().append(row)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--nerfs", required=True, type=Path)
    ap.add_argument("--data", type=Path, default=None, help="dataset with splits/*.txt")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--psnr-nerfs", type=int, default=0, help="test NeRFs rendered (0: all)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--figure", type=Path, default=None, help="PNG of NeRF vs decoded views")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from clip2nerf.nf2vec.embed import embed_matrices
    from clip2nerf.nf2vec.model import Nf2vec
    from clip2nerf.nf2vec.nerfs import batched_nerf_forward, dataset_splits, load_nerf_set
    from clip2nerf.nf2vec.views import (
        image_grid,
        psnr,
        render_embedding,
        render_field_views,
        view_poses,
    )

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = Nf2vec.from_pretrained(args.model, device)
    splits = dataset_splits(args.data) if args.data else None
    t0 = time.perf_counter()
    nerfs = load_nerf_set(args.nerfs, model.config.nerf, splits=splits)
    load_s = time.perf_counter() - t0
    rows: list[tuple[str, str]] = _Rows([("model", f"{model.space} ({args.model})"),
                                   ("NeRFs", f"{len(nerfs)} from {args.nerfs} "
                                    f"(train {len(nerfs.split('train'))}, val "
                                    f"{len(nerfs.split('val'))}, test {len(nerfs.split('test'))})"),
                                   ("device", f"{device} ({torch.get_num_threads()} threads)")])

    # Encoder throughput on matrices in memory (warm-up, then best of 3).
    embed_matrices(model, nerfs.matrices[: args.batch_size], args.batch_size, device)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        emb = embed_matrices(model, nerfs.matrices, args.batch_size, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    emb_np = emb.numpy()
    rows.append(("encoder throughput", f"{len(nerfs) / min(times):.0f} NeRFs/s "
                 f"(batch {args.batch_size}, matrices in memory)"))
    rows.append(("reading NeRF files", f"{len(nerfs) / load_s:.0f} NeRFs/s"))

    classes = sorted(set(nerfs.classes))
    train_rows = [i for i, s in enumerate(nerfs.splits) if s in ("train", "val")]
    test_rows = [i for i, s in enumerate(nerfs.splits) if s == "test"]
    result: dict[str, float | int | str | None] = {"space": model.space, "n_nerfs": len(nerfs),
                                                   "encoder_nerfs_per_s": len(nerfs) / min(times)}
    if test_rows and train_rows:
        y = np.array(nerfs.classes)
        scaler = StandardScaler().fit(emb_np[train_rows])
        clf = LogisticRegression(max_iter=2000, C=1.0)
        clf.fit(scaler.transform(emb_np[train_rows]), y[train_rows])
        acc = float((clf.predict(scaler.transform(emb_np[test_rows])) == y[test_rows]).mean())
        r1 = _recall_at_1(emb_np[test_rows], [nerfs.classes[i] for i in test_rows])
        r1_all = _recall_at_1(emb_np, nerfs.classes)
        rows.append(("oracle accuracy (logreg)", f"{100 * acc:.1f}% on {len(test_rows)} test "
                     f"NeRFs, {len(classes)} classes (chance {100 / len(classes):.1f}%)"))
        rows.append(("recall@1 (test among test)", f"{100 * r1:.1f}%"))
        # With few test NeRFs one split is coarse; 5-fold CV over every NeRF is steadier
        # (the encoder never saw labels, so this is still a held-out classifier estimate).
        from sklearn.model_selection import KFold, cross_val_predict
        from sklearn.pipeline import make_pipeline

        pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        cv = KFold(5, shuffle=True, random_state=0)
        loo = float((cross_val_predict(pipe, emb_np, y, cv=cv) == y).mean())
        rows.append(("oracle accuracy (5-fold CV)", f"{100 * loo:.1f}% over all "
                     f"{len(nerfs)} NeRFs"))
        result.update(oracle_accuracy_loo=loo)
        rows.append(("recall@1 (all among all)", f"{100 * r1_all:.1f}%"))
        result.update(oracle_accuracy=acc, recall_at_1_test=r1, recall_at_1_all=r1_all,
                      n_test=len(test_rows))
    else:
        rows.append(("oracle / recall", "no test split (pass --data DATA)"))

    # Decoder PSNR on test NeRFs.
    psnr_rows = test_rows or list(range(len(nerfs)))
    if args.psnr_nerfs:
        psnr_rows = psnr_rows[: args.psnr_nerfs]
    poses = view_poses(args.views)
    cfg = model.config.nerf
    aabb = model.decoder.aabb.cpu()
    scores, fig_rows = [], []
    t0 = time.perf_counter()
    for i in psnr_rows:
        mat = nerfs.matrices[i:i + 1].to(device)

        def field(x, mat=mat):
            rgb, s = batched_nerf_forward(mat, x[None], cfg)
            return rgb[0], s[0]

        from clip2nerf.nerf.io import load_nerf

        occ = load_nerf(nerfs.paths[i]).occupancy
        ref = render_field_views(field, aabb, poses, args.res, occ, device=device)
        dec = render_embedding(model.decoder, emb[i].to(device), poses, args.res)
        scores.append(psnr(dec, ref))
        if len(fig_rows) < 8:
            fig_rows += [ref, dec]
    rows.append(("decoder PSNR vs NeRF renders", f"{np.mean(scores):.2f} dB mean "
                 f"(min {np.min(scores):.2f}, max {np.max(scores):.2f}) over {len(scores)} "
                 f"{'test ' if test_rows else ''}NeRFs x {args.views} views at {args.res}px"))
    rows.append(("decode + render time", f"{(time.perf_counter() - t0) / len(psnr_rows):.2f} s "
                 "per NeRF (both renders)"))
    result.update(decoder_psnr=float(np.mean(scores)), psnr_nerfs=len(scores))
    if args.figure:
        from PIL import Image

        Image.fromarray(image_grid(fig_rows)).save(args.figure)
        rows.append(("figure", f"{args.figure} (pairs of rows: NeRF, decoded)"))

    hist_path = args.model / "history.json"
    if hist_path.is_file():
        hist = json.loads(hist_path.read_text())
        ep = hist["epochs"]
        secs = [e["seconds"] for e in ep]
        rows.append(("training", f"{len(ep)} epochs on {hist['n_train']} NeRFs, "
                     f"{np.mean(secs):.1f} s/epoch (+ validation), final loss "
                     f"{ep[-1]['loss']:.4f}, val PSNR "
                     + ("-" if ep[-1]["val_psnr"] is None else f"{ep[-1]['val_psnr']:.2f} dB")))
        result.update(train_seconds_per_epoch=float(np.mean(secs)), epochs=len(ep))

    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
