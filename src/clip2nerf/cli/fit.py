"""``clip2nerf fit``: fit one NeRF per object of a dataset (resumable)."""

from __future__ import annotations

import click

import clip2nerf.cli.options as opt
from clip2nerf.cli.executor_options import executor_config, executor_options
from clip2nerf.errors import UserError


def _parse_ids(values: tuple[str, ...]) -> list[str] | None:
    if not values:
        return None
    ids = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not ids:
        raise UserError("--objects: no object id given")
    return ids


def _objects_to_fit(ds, data, objects, split, limit) -> list[str]:
    """The object ids ``--objects`` / ``--split`` / ``--limit`` select; unknown ids refused."""
    ids = _parse_ids(objects) or ds.object_ids(split)
    known = set(ds.object_ids())
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UserError(f"--objects: not in {data}: {', '.join(unknown[:5])}"
                        + (" ..." if len(unknown) > 5 else ""))
    if limit is not None:
        ids = ids[:limit]
    if not ids:
        raise UserError(f"no objects to fit in {data} (split {split})")
    return ids


@click.command(name="fit", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data", required=True, type=click.Path(file_okay=False),
              help="Dataset folder (clip2nerf synth output or a ShapeNetRender-style tree).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for <object_id>.safetensors NeRFs and manifest.json.")
@click.option("--objects", multiple=True, metavar="IDS",
              help="Comma-separated object ids (repeatable); default: every object of --split.")
@click.option("--split", type=click.Choice(["train", "val", "test", "all"]), default="all",
              show_default=True, help="Which split's objects to fit.")
@click.option("--limit", type=opt.LIMIT, default=None, help="Fit at most this many objects.")
@click.option("--steps", type=opt.STEPS, default=None, help="Optimisation steps per object "
              "(default from FitConfig).")
@click.option("--rays", "rays_per_step", type=opt.RAYS, default=None, help="Rays per step.")
@click.option("--lr", type=opt.LR, default=None, help="Adam learning rate at the start.")
@click.option("--samples", "n_samples", type=opt.SAMPLES, default=None,
              help="Samples along the box diagonal.")
@click.option("--grid", "grid_resolution", type=opt.GRID, default=None,
              help="Occupancy grid cells per axis.")
@click.option("--image-size", "image_size", type=opt.RESOLUTION, default=None,
              help="Fit at this view side in pixels, at least: larger views are box-downsampled "
                   "by an integer factor (128 -> 64, 224 -> 112) [default: 64, FitConfig's].")
@click.option("--holdout", "holdout_views", type=opt.HOLDOUT, default=None,
              help="Views held out per object for the PSNR in the manifest (0: none).")
@click.option("--seed", type=opt.SEED, default=None, help="Seed of init and ray sampling.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--workers", type=opt.WORKERS, default=1, show_default=True,
              help="Objects fitted in parallel processes (CPU). On an idle 2-core machine "
                   "--workers 2 --threads 1 gives the most objects per hour.")
@click.option("--threads", type=opt.THREADS, default=1, show_default=True,
              help="Torch threads per worker (1 is fastest on a shared machine).")
@click.option("--overwrite", is_flag=True, help="Refit objects that already have a NeRF.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@executor_options(default_shard_size=4)
def command(data, out, objects, split, limit, steps, rays_per_step, lr, n_samples,
            grid_resolution, image_size, holdout_views, seed, device, workers, threads,
            overwrite, quiet, executor, ray_address, shard_size, max_retries):
    """Fit NeRFs (the nf2vec architecture) to the multi-view images of a dataset.

    \b
    Writes OUT/<object_id>.safetensors (atomically: a file is either complete or absent)
    and OUT/manifest.json with each object's held-out PSNR (whole image and object pixels),
    fit seconds, steps and the resolution fitted at (views larger than --image-size, such
    as synth's 128 px views, are box-downsampled first). Interrupted runs resume: rerun the
    same command and objects that already have a valid NeRF are skipped. --executor ray fits
    shards of --shard-size objects as Ray tasks (retried up to --max-retries times; the
    manifest grows as shards end).
    """
    import time
    from pathlib import Path

    from tqdm import tqdm

    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.nerf.fit import FitConfig
    from clip2nerf.nerf.runner import fit_dataset
    from clip2nerf.utils.device import resolve_device

    ex = executor_config(executor, ray_address, shard_size, max_retries, threads)
    # With Ray, --device is resolved on each worker (a cluster may have GPUs this machine lacks).
    dev = resolve_device(device if ex.kind == "local" else "cpu")
    if dev.type == "cuda" and workers > 1:
        raise UserError("--workers > 1 is for CPU fitting; use --workers 1 with --device cuda")
    overrides = {k: v for k, v in dict(steps=steps, rays_per_step=rays_per_step, lr=lr,
                                       n_samples=n_samples, grid_resolution=grid_resolution,
                                       image_size=image_size, holdout_views=holdout_views,
                                       seed=seed).items()
                 if v is not None}
    cfg = FitConfig(**overrides)
    opt.check_out_dir(out, "--out")
    ds = open_dataset(data)
    ids = _objects_to_fit(ds, data, objects, split, limit)
    from clip2nerf.nerf.fit import check_holdout, fit_downsample_factor

    first = ds.get(ids[0])  # fail before fitting anything; every object is checked again
    check_holdout(cfg.holdout_views, first.n_views, first.object_id)
    w, h = first.intrinsics.width, first.intrinsics.height
    k = fit_downsample_factor(w, h, cfg.image_size)
    bar = tqdm(total=len(ids), desc="fit", unit="obj", disable=quiet)
    counts = {"fitted": 0, "skipped": 0}

    def on_done(oid, entry, skipped):
        counts["skipped" if skipped else "fitted"] += 1
        bar.update(1)
        if not skipped and "psnr" in entry:
            bar.set_postfix_str(f"{oid} {entry['psnr']:.1f}/{entry['psnr_object']:.1f} dB "
                                f"{entry['fit_seconds']:.1f}s")

    t0 = time.perf_counter()
    try:
        entries = fit_dataset(ds.root, out, ids, cfg, device=str(dev), workers=workers,
                              threads=threads, overwrite=overwrite, on_done=on_done,
                              executor=ex, device_spec=device)
    finally:
        bar.close()
    fitted = [e for e in entries.values() if "psnr" in e]
    size = (f"{w}x{h} px views fitted at {w // k}x{h // k} ({k}x{k} box-downsampled)" if k > 1
            else f"fitted at the views' {w}x{h} px")
    msg = (f"{counts['fitted']} fitted, {counts['skipped']} already there, in "
           f"{time.perf_counter() - t0:.1f} s ({size}); NeRFs and manifest.json in {Path(out)}")
    if fitted:
        import statistics

        msg += (f"; held-out PSNR mean {statistics.fmean(e['psnr'] for e in fitted):.2f} dB "
                f"(object pixels {statistics.fmean(e['psnr_object'] for e in fitted):.2f} dB)")
    click.echo(msg)
    return 0
