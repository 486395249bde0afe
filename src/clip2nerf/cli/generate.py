"""``clip2nerf generate``: views of a NeRF generated from text or images (paper §7)."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.cli.query import check_query
from clip2nerf.utils.device import DEVICE_CHOICES


@click.command(name="generate", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--text", default=None, help="Text prompt, e.g. \"a 3d model of a car\".")
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path),
              help="Conditioning image (repeatable: clip2nerf outputs are averaged).")
@click.option("--nf2vec", "nf2vec_dir", required=True, type=click.Path(path_type=Path),
              help="Trained nf2vec model folder (its decoder renders the result).")
@click.option("--clip2nerf", "mapper_dir", required=True, type=click.Path(path_type=Path),
              help="clip2nerf mapper folder trained for this nf2vec model and VLM.")
@click.option("--vlm", "vlm_spec", default="zeroshot", show_default=True,
              help="VLM the mapper was trained with (another one is refused).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="PNG to write.")
@click.option("--views", "n_views", type=opt.VIEWS, default=8, show_default=True,
              help="Orbit views to render.")
@click.option("--resolution", type=opt.RESOLUTION, default=96, show_default=True)
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
def command(text, images, nf2vec_dir, mapper_dir, vlm_spec, out, n_views, resolution,
            device) -> None:
    """Map --text or --image(s) to an nf2vec embedding and render its decoded NeRF."""
    from clip2nerf.apps import generate, load_mapper, text_tile
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.utils.device import resolve_device
    from clip2nerf.utils.images import image_grid
    from clip2nerf.utils.io import atomic_path
    from clip2nerf.vlm import load_vlm

    query_rgba = check_query(text, images, "condition")
    opt.check_out_file(out, "--out", ".png")
    dev = str(resolve_device(device))
    model = Nf2vec.from_pretrained(nf2vec_dir, dev)
    vlm = load_vlm(vlm_spec, device=dev)
    mapper = load_mapper(mapper_dir, "clip2nerf", vlm, model, device=dev)
    result = generate(model, mapper, vlm, text=text, images=[str(p) for p in images] or None,
                      n_views=n_views, resolution=resolution, device=dev)
    if text is not None:
        cond = text_tile(text, resolution)
    else:
        cond = query_rgba.resize((resolution, resolution))
    sheet = image_grid([cond, *result.views], ncols=n_views + 1,
                       labels=["condition"] + [f"view {i}" for i in range(n_views)])
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
    click.echo(f"wrote {out}: {n_views} views of the NeRF generated from "
               f"{'the text' if text is not None else f'{len(images)} image(s)'} (VLM {vlm.name})")
