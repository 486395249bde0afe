"""Round trip through the reference NeRF format: export -> import, float32 and float16.

For each NeRF: write it as an nf2vec tree (``nerf_weights.pth`` + ``grid.pth``) with float32 and
with float16 ``mlp_base.params``, import it back, render both at the dataset's cameras and
report the PSNR between the two renders (inf = identical) and each render's PSNR against the
ground-truth views, plus the largest weight change.

    python benchmarks/bench_interop.py --nerfs W/nerfs --data W/data [--views 6]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import torch


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else -10 * math.log10(mse)


def main() -> None:
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.interop.nerf_tree import export_nerfs, import_tree
    from clip2nerf.nerf import load_nerf, render_image
    from clip2nerf.nf2vec.nerfs import find_nerf_files

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nerfs", required=True, type=Path)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--views", type=int, default=6)
    args = ap.parse_args()
    ds = open_dataset(args.data)
    files = find_nerf_files(args.nerfs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        for half in (False, True):
            tree, back = Path(tmp) / f"tree{half}", Path(tmp) / f"back{half}"
            export_nerfs(files, tree, half=half)
            import_tree(tree, back)
            for f in files:
                orig = load_nerf(f)
                conv = load_nerf(back / f.name)
                rec = ds.get(orig.object_id)
                gt = torch.from_numpy(rec.load_views()).float()[: args.views] / 255.0
                dw = max(float((conv.state_dict[k] - v).abs().max())
                         for k, v in orig.state_dict.items())
                p_rt, p_o, p_c = [], [], []
                for i in range(min(args.views, rec.n_views)):
                    c2w = rec.poses()[i]
                    a = render_image(orig.field, rec.intrinsics, c2w, orig.aabb, orig.occupancy)
                    b = render_image(conv.field, rec.intrinsics, c2w, conv.aabb, conv.occupancy)
                    g = gt[i, ..., :3] * gt[i, ..., 3:] + (1 - gt[i, ..., 3:])
                    p_rt.append(psnr(a[..., :3], b[..., :3]))
                    p_o.append(psnr(a[..., :3], g))
                    p_c.append(psnr(b[..., :3], g))
                rows.append((orig.object_id, "float16" if half else "float32", dw, min(p_rt),
                             sum(p_o) / len(p_o), sum(p_c) / len(p_c)))
    print("| object | params dtype | max |Δw| | PSNR converted vs original (min over views) "
          "| PSNR original vs GT | PSNR converted vs GT |")
    print("|---|---|---|---|---|---|")
    for oid, dt, dw, prt, po, pc in rows:
        print(f"| {oid} | {dt} | {dw:.2e} | {prt:.2f} dB | {po:.2f} dB | {pc:.2f} dB |")


if __name__ == "__main__":
    main()
