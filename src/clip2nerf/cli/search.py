"""``clip2nerf search``: retrieve NeRFs from a text or image query (clip2nerf + k-NN)."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.cli.query import check_query
from clip2nerf.utils.device import DEVICE_CHOICES


@click.command(name="search", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--text", default=None, help="Text query, e.g. \"a 3d model of a red car\".")
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path),
              help="Query image (repeat for several views of one object: their clip2nerf "
                   "outputs are averaged).")
@click.option("--gallery", required=True, type=click.Path(path_type=Path),
              help="Gallery folder of nf2vec NeRF embeddings (`clip2nerf index`).")
@click.option("--clip2nerf", "mapper_dir", required=True, type=click.Path(path_type=Path),
              help="clip2nerf mapper folder (`clip2nerf map train --direction clip2nerf`).")
@click.option("--vlm", "vlm_spec", default="zeroshot", show_default=True,
              help="VLM the mapper was trained with (another one is refused).")
@click.option("--k", type=opt.K, default=5, show_default=True, help="Results to show.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write a PNG strip: the query, then each result rendered from one view.")
@click.option("--nerfs", "nerf_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of the gallery's NeRF files, for --out when the gallery does not "
                   "record where they are.")
@click.option("--resolution", type=opt.RESOLUTION, default=96, show_default=True,
              help="Pixels per tile of --out.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
def command(text, images, gallery, mapper_dir, vlm_spec, k, out, nerf_dir, resolution,
            device) -> None:
    """Find the K NeRFs of a gallery that best match --text or --image(s).

    Prints rank, object id, class and cosine score per result.
    """
    from clip2nerf.apps import load_mapper, resolve_source, search
    from clip2nerf.errors import UserError
    from clip2nerf.index import Gallery
    from clip2nerf.utils.device import resolve_device
    from clip2nerf.vlm import load_vlm

    query_rgba = check_query(text, images, "query")
    if out is not None:
        opt.check_out_file(out, "--out", ".png")
    if not gallery.is_dir():
        raise UserError(f"--gallery {gallery}: no such gallery folder (build one with "
                        "`clip2nerf index`)")
    dev = str(resolve_device(device))
    g = Gallery.load(gallery)
    vlm = load_vlm(vlm_spec, device=dev)
    mapper = load_mapper(mapper_dir, "clip2nerf", vlm, nf2vec_space=g.space, device=dev)
    hits = search(g, mapper, vlm, text=text, images=[str(p) for p in images] or None, k=k)
    for h in hits:
        click.echo(f"{h.rank:>3}  {h.object_id:<24} {h.label:<12} {h.score:.3f}")
    if out is not None:
        from clip2nerf.apps import render_nerf_view, strip_png, text_tile

        if text is not None:
            query = text_tile(text, resolution)
        else:
            query = query_rgba.resize((resolution, resolution))
        tiles, labels, missing = [query], ["query" + (f" ({len(images)} views)"
                                                      if len(images) > 1 else "")], 0
        for h in hits:
            src = resolve_source(h, nerf_dir)
            missing += src is None
            tiles.append(None if src is None else render_nerf_view(src, resolution, device=dev))
            labels.append(f"{h.rank}. {h.label} {h.score:.2f}")
        strip_png(tiles, labels, out)
        note = f" ({missing} NeRF files not found; pass --nerfs DIR)" if missing else ""
        click.echo(f"wrote {out}{note}", err=True)
