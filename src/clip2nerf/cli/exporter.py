"""``clip2nerf export``: our NeRF files as an nf2vec tree the reference code reads."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="export", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("nerfs", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Tree root: <synset or class>/<id>/{nerf_weights.pth, grid.pth}.")
@click.option("--half", is_flag=True, help="Store mlp_base.params as float16.")
@click.option("--overwrite", is_flag=True, help="Rewrite objects already exported.")
def command(nerfs, out, half, overwrite):
    """Write NeRF files (a folder or one file) as nf2vec's nerf_weights.pth + grid.pth."""
    from clip2nerf.interop.nerf_tree import export_nerfs
    from clip2nerf.nf2vec.nerfs import find_nerf_files

    written = export_nerfs(find_nerf_files(nerfs), out, half=half, overwrite=overwrite)
    click.echo(f"exported {len(written)} NeRFs to {out}")
