"""``clip2nerf caption``: caption a dataset's objects with BLIP-2 (paper §6.2)."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.utils.device import DEVICE_CHOICES


@click.command(name="caption", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Dataset folder.")
@click.option("--model", default="Salesforce/blip2-opt-2.7b", show_default=True,
              help="BLIP-2 folder or hub id (read from the local cache only; never downloads).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Caption file [default: DATA/captions/<captioner>.json].")
@click.option("--split", default="all", show_default=True, help="train, val, test or all.")
@click.option("--views", "views_per_object", type=opt.VIEWS, default=1, show_default=True,
              help="Views captioned per object (evenly spaced); each caption is kept.")
@click.option("--prompt", default="", help="Text the caption continues (default: none).")
@click.option("--max-new-tokens", type=opt.NEW_TOKENS, default=30, show_default=True)
@click.option("--batch-size", type=opt.BATCH_SIZE, default=8, show_default=True)
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace a caption file of other settings.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(data, model, out, split, views_per_object, prompt, max_new_tokens, batch_size,
            device, overwrite, quiet) -> None:
    """Caption every object's views with BLIP-2; captions are stored per object with the
    captioner's name. Multimodal training then takes them with
    `clip2nerf vlm embed-captions --captions FILE` (the dataset's own captions otherwise).
    Resumable: rerun to continue."""
    from clip2nerf.caption import Blip2Captioner, caption_dataset
    from clip2nerf.utils.device import resolve_device

    captioner = Blip2Captioner(model, device=str(resolve_device(device)), prompt=prompt,
                               max_new_tokens=max_new_tokens, batch_size=batch_size)
    caption_dataset(data, captioner, out, split=None if split == "all" else split,
                    views_per_object=views_per_object, overwrite=overwrite,
                    progress=not quiet, log=lambda m: click.echo(m, err=True))
