"""``clip2nerf catalogue``: grow or shrink a served catalogue, atomically."""

from __future__ import annotations

from pathlib import Path

import click

from clip2nerf.cli.executor_options import executor_config, executor_options
from clip2nerf.utils.device import DEVICE_CHOICES

WORKDIR = click.option("--workdir", type=click.Path(path_type=Path),
                       default=Path("clip2nerf-demo"), show_default=True,
                       help="Catalogue folder (a finished `clip2nerf demo` workdir).")


@click.group(name="catalogue", context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Add or remove NeRFs of a catalogue; a running `clip2nerf serve` picks changes up.

    Each update writes a new catalogue version, then switches to it in one atomic rename:
    an interrupted or killed update leaves the previous version intact and served.
    """


@command.command(name="add")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@WORKDIR
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--no-thumbnails", is_flag=True, help="Do not pre-render thumbnails.")
@executor_options(default_shard_size=64, shard_help="NeRF files per shard (per Ray task).")
def add(sources, workdir, device, no_thumbnails, executor, ray_address, shard_size,
        max_retries) -> None:
    """Embed NeRF files (or folders of them) with the catalogue's nf2vec model and add them.

    Files of another NeRF architecture, with NaN weights, or embeddings of another nf2vec
    model are refused, naming the file; nothing changes then. The files are embedded in
    shards (--executor ray: one Ray task each); a rerun of a failed add skips the shards
    already embedded.
    """
    from clip2nerf.catalogue import add_nerfs
    from clip2nerf.utils.device import resolve_device

    add_nerfs(workdir, sources, device=str(resolve_device(device)),
              thumbnails=not no_thumbnails, log=click.echo,
              executor=executor_config(executor, ray_address, shard_size, max_retries))


@command.command(name="remove")
@click.argument("ids", nargs=-1, required=True)
@WORKDIR
def remove(ids, workdir) -> None:
    """Remove NeRFs by id (see `clip2nerf catalogue list`)."""
    from clip2nerf.catalogue import remove_ids

    remove_ids(workdir, list(ids), log=click.echo)


@command.command(name="list")
@WORKDIR
def list_(workdir) -> None:
    """Print the live version, then id and class per NeRF."""
    from clip2nerf.catalogue import Catalogue

    version = Catalogue(workdir).load_version()
    click.echo(f"# {version.name}: {len(version)} NeRFs")
    for oid, e in version.entries.items():
        click.echo(f"{oid}\t{e.get('class', '')}")
