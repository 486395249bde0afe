"""``clip2nerf eval``: the paper's tables and figures on a dataset, as a report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.utils.device import DEVICE_CHOICES


@click.command(name="eval", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Cache and output folder: embeddings, rendered views and mappers are made "
                   "there when missing, the report goes to WORKDIR/report/.")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Dataset folder [default: WORKDIR/data].")
@click.option("--nerfs", type=click.Path(path_type=Path), default=None,
              help="Folder of fitted NeRF files [default: WORKDIR/nerfs].")
@click.option("--nf2vec", "nf2vec_dir", type=click.Path(path_type=Path), default=None,
              help="Trained nf2vec model folder [default: WORKDIR/nf2vec].")
@click.option("--vlm", "vlm_spec", default="zeroshot", show_default=True,
              help="Vision-language model: zeroshot (pre-trained parts only, never saw the "
                   "data), a model folder (e.g. W/vlm-adapted), offline, clip, auto or a hub id.")
@click.option("--split", type=click.Choice(["test", "val", "val+test"]), default="test",
              show_default=True,
              help="Objects evaluated (gallery and queries). val+test suits small datasets whose "
                   "test split has one object per class (no same-class object would be left "
                   "once the query's own is excluded).")
@click.option("--views", default="1,2,4,8,16", show_default=True,
              help="View counts of the baselines and ablations (N = all views is added).")
@click.option("--clip2nerf-epochs", type=opt.EPOCHS, default=None,
              help="Override the paper's 150 clip2nerf epochs (recorded in the report).")
@click.option("--nerf2clip-epochs", type=opt.EPOCHS, default=None,
              help="Override the paper's 100 nerf2clip epochs (recorded in the report).")
@click.option("--clip2nerf-lr", type=opt.LR, default=None,
              help="Override the paper's clip2nerf peak learning rate (recorded in the report).")
@click.option("--nerf2clip-lr", type=opt.LR, default=None,
              help="Override the paper's nerf2clip peak learning rate (recorded in the report).")
@click.option("--timing-objects", type=opt.TIMING, default=3, show_default=True,
              help="NeRFs / queries timed per method.")
@click.option("--timing-repeats", type=opt.TIMING, default=3, show_default=True,
              help="Repeats per timed call (the median is reported).")
@click.option("--render-size", type=opt.IMAGE_SIZE, default=64, show_default=True,
              help="Pixels of the views rendered from the NeRFs ('rendered' rows, timed VLM "
                   "baselines): the size NeRFs are fitted at; the VLM resizes them.")
@click.option("--samples", type=opt.SAMPLES, default=128, show_default=True,
              help="Samples along the box diagonal when rendering views from NeRFs.")
@click.option("--seed", type=opt.SEED, default=0, show_default=True)
@click.option("--threads", type=opt.THREADS, default=1, show_default=True,
              help="CPU threads (small models; extra threads spin on a busy machine; 0 = all "
                   "available cores).")
@click.option("--syn2real", is_flag=True,
              help="Also the Table 4 analogue: photo-style queries of the evaluated objects "
                   "(held-out photos), clip2nerf trained with and without photo-style "
                   "augmentation (needs the augment extra).")
@click.option("--controlnet-views", type=click.Path(path_type=Path), default=None,
              help="With --syn2real: `augment controlnet --split train` output, for the "
                   "ControlNet rows.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
def command(workdir, data, nerfs, nf2vec_dir, vlm_spec, split, views, clip2nerf_epochs,
            nerf2clip_epochs, clip2nerf_lr, nerf2clip_lr, timing_objects, timing_repeats, render_size, samples, seed, threads,
            syn2real, controlnet_views, quiet, device) -> None:
    """Reproduce the paper's Tables 1, 2, 3, 5 and Figures 4, 7 on a dataset.

    Needs a dataset, NeRFs fitted on it and a trained nf2vec model; everything else
    (NeRF/view/caption embeddings, views rendered from the NeRFs, the 15 mapping networks)
    is made in WORKDIR if missing, so a rerun is cheap and an interrupted run resumes.
    """
    from clip2nerf.errors import UserError
    from clip2nerf.evaluation import EvalConfig, EvalPaths, run_eval
    from clip2nerf.utils.device import resolve_device

    try:
        counts = tuple(int(v) for v in views.split(",") if v.strip())
    except ValueError:
        raise UserError(f"--views {views!r}: expected comma-separated integers") from None
    if not counts or min(counts) < 1:
        raise UserError(f"--views {views!r}: view counts must be >= 1")
    for name, lr in (("--clip2nerf-lr", clip2nerf_lr), ("--nerf2clip-lr", nerf2clip_lr)):
        if lr is not None and not 0 < lr < 1:
            raise UserError(f"{name} {lr}: must be between 0 and 1")
    from clip2nerf.utils.threads import set_threads

    set_threads(threads)
    paths = EvalPaths(workdir, data, nerfs, nf2vec_dir)
    cfg = EvalConfig(vlm=vlm_spec, split=split, views=counts, seed=seed,
                     clip2nerf_epochs=clip2nerf_epochs, nerf2clip_epochs=nerf2clip_epochs,
                     clip2nerf_lr=clip2nerf_lr, nerf2clip_lr=nerf2clip_lr,
                     timing_objects=timing_objects, timing_repeats=timing_repeats,
                     render_samples=samples, render_resolution=render_size, device=str(resolve_device(device)),
                     syn2real=syn2real or controlnet_views is not None,
                     controlnet_views=str(controlnet_views) if controlnet_views else None)
    report = run_eval(paths, cfg, command="clip2nerf eval " + " ".join(sys.argv[2:]),
                      log=lambda m: click.echo(m, err=True), progress=not quiet)
    click.echo(f"wrote {report}")
