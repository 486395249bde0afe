"""``clip2nerf augment``: photo-style and ControlNet images of a dataset's objects."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.utils.device import DEVICE_CHOICES

# Literal copies of clip2nerf.augment.controlnet's defaults (importing it here would be cheap,
# but keeping the CLI module free of package imports keeps `--help` fast everywhere).
DEFAULT_SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_CN = "lllyasviel/sd-controlnet-depth"


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
@click.option("--views-per-object", type=opt.VIEWS, default=7, show_default=True,
              help="Augmented images per object (the paper adds 7 per object).")
@click.option("--size", type=opt.RESOLUTION, default=None,
              help="Output side in px [default: the views' width].")
@click.option("--seed", type=opt.SEED, default=0, show_default=True)
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


@command.command("controlnet")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Source dataset (needs depth maps, as `clip2nerf synth` writes).")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output dataset folder (resumable by object: rerun to continue).")
@click.option("--split", default="train", show_default=True, help="Objects to augment.")
@click.option("--views-per-object", type=opt.VIEWS, default=7, show_default=True,
              help="Generated images per object (paper: 7).")
@click.option("--sd-model", default=DEFAULT_SD, show_default=True,
              help="Stable Diffusion 1.5 folder or hub id (read from the local cache only).")
@click.option("--controlnet", default=DEFAULT_CN, show_default=True,
              help="Depth ControlNet folder or hub id (read from the local cache only).")
@click.option("--prompt", default=None,
              help="Prompt template with {cls} (class name) and {scene} (a class-aware setting) "
                   "[default: 'a photo of a {cls}, {scene}, realistic, high quality'].")
@click.option("--steps", type=opt.DIFFUSION_STEPS, default=20, show_default=True, help="Denoising steps.")
@click.option("--guidance", type=opt.GUIDANCE, default=7.5, show_default=True,
              help="Classifier-free guidance scale.")
@click.option("--size", type=opt.RESOLUTION, default=512, show_default=True,
              help="Output side in px (multiple of 8).")
@click.option("--batch-size", type=opt.BATCH_SIZE, default=4, show_default=True,
              help="Images per denoising pass.")
@click.option("--seed", type=opt.SEED, default=0, show_default=True)
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace another augmentation at --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def controlnet_cmd(data, out, split, views_per_object, sd_model, controlnet, prompt, steps,
                   guidance, size, batch_size, seed, device, overwrite, quiet) -> None:
    """Photo-like images of the objects from their depth maps: Stable Diffusion 1.5 + the
    depth ControlNet (paper §6.1, Table 4), class-aware prompts, seeds and model names
    recorded per image. Never downloads: weights come from folders or the Hugging Face cache.
    Needs: pip install 'clip2nerf[diffusion]'.
    """
    from clip2nerf.augment.controlnet import ControlNetSettings, augment_controlnet

    kw = {"prompt_template": prompt} if prompt is not None else {}
    settings = ControlNetSettings(sd_model=sd_model, controlnet=controlnet,
                                  views_per_object=views_per_object, steps=steps,
                                  guidance=guidance, size=size, seed=seed, **kw)
    augment_controlnet(data, out, split=split, settings=settings, batch_size=batch_size,
                       device=device, overwrite=overwrite, progress=not quiet,
                       log=lambda m: click.echo(m, err=True))
