"""``clip2nerf augment``: photo-style and ControlNet images of a dataset's objects."""

from __future__ import annotations

from pathlib import Path

import click


@click.group(name="augment", context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Synthetic-to-real images of a dataset's objects, written as a new dataset folder
    (embed it with `clip2nerf vlm embed-views`, train on it with `map train --extra-views`)."""


@command.command("photo")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Source dataset.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output dataset folder (resumable: rerun to continue).")
@click.option("--split", default="train", show_default=True,
              help="train: training augmentation on the training photos; val or test: a "
                   "held-out photo-style query set on photos training never uses.")
@click.option("--views-per-object", type=int, default=7, show_default=True,
              help="Augmented images per object (the paper adds 7 per object).")
@click.option("--size", type=int, default=None,
              help="Output side in px [default: the views' width].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace another augmentation at --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def photo_cmd(data, out, split, views_per_object, size, seed, overwrite, quiet) -> None:
    """Composite the views on real photographs (scikit-image's bundled photos), with
    lighting/colour changes, blur, sensor noise, JPEG, crops, scale and off-centre framing.

    Deterministic by --seed; every image records its object, source view, background photo,
    seed and operations in the object's meta.json. Needs: pip install 'clip2nerf[augment]'.
    """
    from clip2nerf.augment.photo import augment_photo

    augment_photo(data, out, split=split, views_per_object=views_per_object, seed=seed,
                  size=size, overwrite=overwrite, progress=not quiet,
                  log=lambda m: click.echo(m, err=True))
