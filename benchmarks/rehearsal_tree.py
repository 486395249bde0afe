"""A paper-shaped nf2vec NeRF tree made cheaply from NeRFs fitted here (issue 28's input).

The gmnerf download holds ShapeNetRender's ~40k NeRFs in nf2vec's format; this writes the same
layout for N objects::

    OUT/<synset>/<source id>x<copy>/
        nerf_weights.pth        {"mlp_base.params": tiny-cuda-nn's flat vector, float32}
        grid.pth                nerfacc occupancy grid buffers (the source NeRF's grid)
        transforms_train.json   camera_angle_x + 36 frames (./train/<i>, camera-to-world)
        train/<i>.png           the source object's 36 views (hard links, see below)
    OUT/{train,val,test}.txt    gmnerf's split files (lines <synset>/<id>), 80/10/10 per class

How the N objects are made: object ``i`` is a copy of source NeRF ``i mod S`` (the S fitted
NeRFs given, in class order), copy 0 its weights unchanged, copy ``k > 0`` its weights with
Gaussian noise of ``--noise`` (default 1%) of each weight matrix's standard deviation added, a
perturbation small enough that it still renders as the same object (``--check`` prints the
PSNR of perturbed renders against the source's; 50-60 dB at 1%). Copies share the source's
occupancy grid and its views: the PNGs are hard links to the source dataset's ground-truth
views (one render per source object, not per copy) and ``grid.pth`` (9.7 MB) a hard link to
copy 0's, so the tree costs ~100 kB per object of new disk (and the import reads the shared
grids from the page cache, where the gmnerf download's own grids would come from disk), and the views of all copies of a source are the same pixels (their VLM embeddings
are equal: the accuracy figures of a rehearsal mean nothing, only its costs do).

Resumable: an object folder is complete once its ``nerf_weights.pth`` is there (written last,
atomically); a rerun skips complete folders.

    python benchmarks/rehearsal_tree.py --nerfs W/nerfs --data W/data --objects 4000 --out T
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path

SPLIT_FRACTIONS = (("train", 0.8), ("val", 0.1), ("test", 0.1))


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system: copy
        shutil.copyfile(src, dst)


def _sources(nerfs: Path) -> list[Path]:
    from clip2nerf.nerf.io import NerfFileError, load_nerf_weights

    out = []
    for p in sorted(nerfs.glob("*.safetensors")):
        try:
            load_nerf_weights(p)
        except NerfFileError:  # still being written, or broken: not a source
            continue
        out.append(p)
    if not out:
        sys.exit(f"{nerfs}: no NeRF files")
    # Interleave classes so that any prefix of the objects covers every class.
    by_class: dict[str, list[Path]] = {}
    for p in out:
        by_class.setdefault(p.stem.rsplit("_", 1)[0], []).append(p)
    order = []
    for k in range(max(len(v) for v in by_class.values())):
        order += [v[k] for v in by_class.values() if k < len(v)]
    return order


def perturbed(state_dict, noise: float, seed: int):
    """``state_dict`` with N(0, (noise * std(W))^2) added to each weight tensor ``W``."""
    import torch

    if noise <= 0:
        return dict(state_dict)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for k, w in state_dict.items():
        std = float(w.float().std()) if w.numel() > 1 else 0.0
        out[k] = w + noise * std * torch.randn(w.shape, generator=gen, dtype=w.dtype)
    return out


def write_object(nf, views: list[Path], c2ws: list, angle_x: float, folder: Path,
                 noise: float, seed: int, grid_of: Path | None = None) -> None:
    """One object folder of the tree (weights written last: its presence marks it done);
    ``grid_of``: a ``grid.pth`` to hard-link instead of writing the source's grid again."""
    import torch

    from clip2nerf.interop.nerf_tree import PARAMS_KEY, WEIGHTS_FILE
    from clip2nerf.interop.nerfacc import grid_to_state
    from clip2nerf.interop.tcnn import state_dict_to_flat
    from clip2nerf.nerf.occupancy import OccupancyGrid
    from clip2nerf.utils.io import atomic_path, atomic_write_json

    (folder / "train").mkdir(parents=True, exist_ok=True)
    frames = []
    for i, (png, c2w) in enumerate(zip(views, c2ws, strict=True)):
        dst = folder / "train" / f"{i}.png"
        if not dst.exists():
            _link(png, dst)
        frames.append({"file_path": f"./train/{i}", "transform_matrix": c2w})
    atomic_write_json(folder / "transforms_train.json",
                      {"camera_angle_x": angle_x, "frames": frames})
    if grid_of is not None and grid_of.is_file():
        (folder / "grid.pth").unlink(missing_ok=True)
        _link(grid_of, folder / "grid.pth")
    else:
        grid = nf.occupancy or OccupancyGrid.full(96, nf.aabb)
        with atomic_path(folder / "grid.pth") as tmp:
            torch.save(grid_to_state(grid), tmp)
    flat = state_dict_to_flat(perturbed(nf.state_dict, noise, seed), nf.config,
                              nf.output_padding, torch.float32)
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        torch.save({PARAMS_KEY: flat}, tmp)


def build_tree(nerfs: Path, data: Path, out: Path, objects: int, noise: float = 0.01,
               seed: int = 0, progress: bool = True) -> dict:
    """Write the tree (see module docstring); returns a summary (also in OUT/rehearsal.json)."""
    import numpy as np
    from tqdm import tqdm

    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.interop.nerf_tree import CLASS_TO_SYNSET, WEIGHTS_FILE
    from clip2nerf.nerf.io import load_nerf
    from clip2nerf.utils.io import atomic_write_json, atomic_write_text

    sources = _sources(nerfs)
    ds = open_dataset(data)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str]] = []  # (class, "<synset>/<folder>") per object
    cache: dict[Path, tuple] = {}
    bar = tqdm(range(objects), desc="rehearsal tree", unit="obj", disable=not progress)
    for i in bar:
        src = sources[i % len(sources)]
        copy = i // len(sources)
        if src not in cache:
            cache.clear()  # one source at a time in memory
            nf = load_nerf(src)
            rec = ds.get(nf.object_id)
            if rec.intrinsics.width != rec.intrinsics.height:
                sys.exit(f"{rec.object_id}: square views expected")
            angle_x = 2 * math.atan(0.5 * rec.intrinsics.width / rec.intrinsics.fx)
            cache[src] = (nf, [f.image_path for f in rec.frames],
                          [np.asarray(f.c2w).tolist() for f in rec.frames], angle_x)
        nf, views, c2ws, angle_x = cache[src]
        synset = CLASS_TO_SYNSET.get(nf.class_name, nf.class_name)
        name = f"{nf.object_id.rsplit('_', 1)[-1]}x{copy:03d}"
        folder = out / synset / name
        rows.append((nf.class_name, f"{synset}/{name}"))
        if not (folder / WEIGHTS_FILE).is_file():
            first = out / synset / f"{nf.object_id.rsplit('_', 1)[-1]}x000" / "grid.pth"
            write_object(nf, views, c2ws, angle_x, folder, noise if copy else 0.0,
                         seed * 1_000_003 + i, grid_of=first if copy else None)
    # 80/10/10 per class, seeded (the paper's ShapeNetRender proportions).
    rng = np.random.default_rng(seed)
    splits: dict[str, list[str]] = {s: [] for s, _ in SPLIT_FRACTIONS}
    by_class: dict[str, list[str]] = {}
    for cls, line in rows:
        by_class.setdefault(cls, []).append(line)
    for lines in by_class.values():
        lines = [lines[j] for j in rng.permutation(len(lines))]
        n_val = n_test = max(round(0.1 * len(lines)), 1 if len(lines) >= 3 else 0)
        splits["test"] += lines[:n_test]
        splits["val"] += lines[n_test:n_test + n_val]
        splits["train"] += lines[n_test + n_val:]
    for s, lines in splits.items():
        atomic_write_text(out / f"{s}.txt", "\n".join(sorted(lines)) + "\n")
    summary = {"objects": objects, "sources": len(sources), "noise": noise, "seed": seed,
               "nerfs": str(nerfs), "data": str(data),
               "split_sizes": {s: len(v) for s, v in splits.items()},
               "views_per_object": len(cache[next(iter(cache))][1]) if cache else 0}
    atomic_write_json(out / "rehearsal.json", summary)
    return summary


def check_renders(nerfs: Path, data: Path, noise: float, n: int = 3, seed: int = 0) -> list[float]:
    """PSNR (dB) of a perturbed copy's render against its source's, for ``n`` sources."""
    import numpy as np

    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.nerf.io import load_nerf
    from clip2nerf.nerf.render_dataset import render_object_views

    ds = open_dataset(data)
    out = []
    for src in _sources(nerfs)[:n]:
        nf = load_nerf(src)
        rec = ds.get(nf.object_id)
        intr = rec.intrinsics.scaled(64, 64)
        pose = rec.poses()[:1]
        a = render_object_views(nf, pose, intr, 64).astype(np.float64) / 255
        nf.state_dict = {k: v.clone() for k, v in perturbed(nf.state_dict, noise, seed).items()}
        b = render_object_views(nf, pose, intr, 64).astype(np.float64) / 255
        mse = float(((a - b) ** 2).mean())
        out.append(10 * math.log10(1 / max(mse, 1e-12)))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nerfs", type=Path, required=True, help="folder of fitted NeRF files")
    ap.add_argument("--data", type=Path, required=True, help="the dataset they were fitted on")
    ap.add_argument("--objects", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--noise", type=float, default=0.01,
                    help="weight noise, fraction of each matrix's std (copies 1..)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true",
                    help="print the PSNR of perturbed renders against the sources' first")
    args = ap.parse_args(argv)
    if args.check:
        psnr = check_renders(args.nerfs, args.data, args.noise)
        print("perturbed vs source render PSNR dB: " + ", ".join(f"{p:.1f}" for p in psnr))
    print(json.dumps(build_tree(args.nerfs, args.data, args.out, args.objects, args.noise,
                                args.seed)))


if __name__ == "__main__":
    main()
