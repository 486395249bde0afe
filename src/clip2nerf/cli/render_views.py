"""``clip2nerf render-views``: a dataset's views rendered from its fitted NeRFs (dataset format)."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.cli.executor_options import executor_config, executor_options
from clip2nerf.utils.device import DEVICE_CHOICES


@click.command(name="render-views", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--nerfs", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of <object_id>.safetensors NeRFs from `clip2nerf fit`.")
@click.option("--data", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The dataset the NeRFs were fitted on (its cameras are re-rendered).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="New dataset folder (same layout, views only, no depth).")
@click.option("--split", default="all", show_default=True, help="train, val, test or all.")
@click.option("--res", type=opt.RESOLUTION, default=None, help="View size in pixels [default: dataset's].")
@click.option("--samples", type=opt.SAMPLES, default=128, show_default=True,
              help="Samples along the box diagonal.")
@click.option("--threads", type=opt.THREADS, default=1, show_default=True,
              help="CPU threads (extra threads mostly spin on a busy machine; 0 = all available cores).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@executor_options(default_shard_size=4)
def command(nerfs, data, out, split, res, samples, threads, quiet, device, executor,
            ray_address, shard_size, max_retries) -> None:
    """Render every view of every object from its NeRF, at the dataset's cameras.

    The output reads like any dataset (`clip2nerf vlm embed-views --data OUT`): the paper's
    "rendered" variants train and evaluate on it. Resumable: rerun to continue. --executor ray
    renders shards of --shard-size objects as Ray tasks.
    """

    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.nerf.render_dataset import render_dataset
    from clip2nerf.utils.device import resolve_device
    from clip2nerf.utils.threads import set_threads

    set_threads(threads)
    ex = executor_config(executor, ray_address, shard_size, max_retries, threads)
    ids = open_dataset(data).object_ids(None if split == "all" else split)
    # With Ray, --device is resolved on each worker (a cluster may have GPUs this machine lacks).
    render_dataset(nerfs, data, out, ids=ids, resolution=res, n_samples=samples,
                   device=str(resolve_device(device)) if ex.kind == "local" else device,
                   progress=not quiet, executor=ex, threads=threads)
    click.echo(f"wrote {out}: {len(ids)} objects rendered from {nerfs}")
