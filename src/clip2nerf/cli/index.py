"""``clip2nerf index``: build a gallery (faiss index + ids/labels) from an embeddings file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

import clip2nerf.cli.options as opt
from clip2nerf.cli.executor_options import executor_config, executor_options
from clip2nerf.index.gallery import KINDS

if TYPE_CHECKING:
    from clip2nerf.index.gallery import IndexKind, ViewReduce


@click.command(name="index")
@click.option("--embeddings", type=click.Path(exists=True, path_type=Path), required=True,
              help="Embeddings file or shard folder: nf2vec NeRF embeddings (n, 1024), or "
                   "per-view VLM embeddings (n, n_views, d) for a baseline gallery.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Gallery folder.")
@click.option("--split-ids", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Only these object ids, one per line (e.g. splits/test.txt).")
@click.option("--kind", type=click.Choice(KINDS), default="auto",
              show_default=True,
              help="flat: exact search; ivf: approximate; ivf-sq8: approximate over 8-bit codes, "
                   "memory-mapped when served (galleries past memory); ivf-sq6: 6-bit codes, "
                   "smaller; auto: flat up to 10,000 rows, ivf-sq8 up to 500,000, else ivf-sq6.")
@click.option("--nlist", type=opt.NLIST, default=None, help="IVF clusters (default 4*sqrt(n)).")
@click.option("--nprobe", type=opt.NPROBE, default=8, show_default=True,
              help="IVF clusters scanned per query.")
@click.option("--views", type=click.Choice(["mean", "all"]), default="mean", show_default=True,
              help="Per-view embeddings: one row per object (mean) or per view (all).")
@click.option("--overwrite", is_flag=True, help="Replace an existing gallery folder.")
@executor_options(default_shard_size=1, shard_help="Embeddings files per shard (per Ray task).")
def command(embeddings: Path, out: Path, split_ids: Path | None, kind: IndexKind,
            nlist: int | None, nprobe: int, views: ViewReduce, overwrite: bool,
            executor: str, ray_address: str | None, shard_size: int, max_retries: int) -> None:
    """Build a cosine k-NN gallery from EMBEDDINGS and write it to OUT (atomically).

    \b
    --executor ray: after training, the rows of each shard of embeddings files are encoded
    by a Ray task into OUT.parts/ (a rerun keeps finished parts), then appended to the index.
    """
    from clip2nerf.data.dataset import read_id_list
    from clip2nerf.errors import UserError
    from clip2nerf.index import Gallery, GalleryConfig

    opt.check_out_dir(out, "--out")
    ids = None
    if split_ids is not None:
        ids = read_id_list(split_ids, "--split-ids")
        if not ids:
            raise UserError(f"--split-ids {split_ids}: no ids in the file")
        if len(set(ids)) != len(ids):
            dup = next(i for n, i in enumerate(ids) if i in ids[:n])
            raise UserError(f"--split-ids {split_ids}: id {dup!r} is listed more than once")
    if out.exists() and not overwrite:
        raise UserError(f"{out} exists; pass --overwrite to replace it")
    # Streamed shard by shard: a shard folder of any size is indexed in bounded memory.
    ex = executor_config(executor, ray_address, shard_size, max_retries)
    gallery = Gallery.from_embeddings(embeddings, views=views, only_ids=ids,
                                      config=GalleryConfig(kind, nlist, nprobe),
                                      executor=ex if ex.kind == "ray" else None,
                                      parts=out.with_name(out.name + ".parts"))
    gallery.save(out, overwrite=overwrite)
    size = (out / "index.faiss").stat().st_size
    click.echo(f"wrote {out}: {len(gallery)} vectors of {gallery.dim} dims ({gallery.space}, "
               f"{gallery.config.kind}, {size / 2**20:.2f} MB)")
