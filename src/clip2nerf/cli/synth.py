"""``clip2nerf synth``: make the bundled procedural object dataset."""

from __future__ import annotations

import click

import clip2nerf.cli.options as opt
from clip2nerf.classes import CLASSES
from clip2nerf.errors import UserError

PRESETS = ("tiny", "small", "bench")


def _parse_classes(values: tuple[str, ...]) -> tuple[str, ...] | None:
    if not values:
        return None
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        raise UserError("--classes: no class given")
    return tuple(names)


@click.command(name="synth", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--preset", type=click.Choice(PRESETS), default=None,
              help="tiny: 13 classes x 6 objects, 12 views (tests); small: 13 x 8, 36 views (the "
                   "demo); bench: 13 x 40, 36 views; each at 128 px with one ray per pixel (`clip2nerf "
                   "fit` fits NeRFs to their 2x2 box downsample, 64 px). Without a preset: 13 x 8 "
                   "at 128 px, supersample 2. Options given explicitly override the preset.")
@click.option("--classes", multiple=True, metavar="NAMES",
              help=f"Comma-separated classes (repeatable); default all {len(CLASSES)}: "
                   f"{', '.join(CLASSES)}.")
@click.option("--per-class", type=opt.PER_CLASS, default=None, help="Objects per class (preset's, else 8).")
@click.option("--views", type=opt.VIEWS, default=None, help="Views per object (default 36).")
@click.option("--res", type=opt.RESOLUTION, default=None, help="Image width = height in pixels (preset's, else 128).")
@click.option("--supersample", type=opt.SUPERSAMPLE, default=None,
              help="Rays per pixel side for smooth edges (preset's, else 2; 1 = aliased, faster).")
@click.option("--seed", type=opt.SEED, default=0, show_default=True,
              help="Same seed and options give byte-identical files.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Dataset folder to create (default data/<preset>, or data/synth).")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing dataset at --out (only once the new one is complete).")
@click.option("--preview", type=click.Path(dir_okay=False), default=None, metavar="PNG",
              help="Also write a contact sheet (one row per class) to this PNG.")
@click.option("--workers", type=opt.WORKERS, default=1, show_default=True,
              help="Processes rendering in parallel.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(preset, classes, per_class, views, res, supersample, seed, out, overwrite, preview,
            workers, quiet):
    """Make the procedural ShapeNet-like dataset: per object RGBA views, 16-bit depth maps,
    cameras (transforms.json, NeRF convention), meta.json with part colours and a caption;
    stratified train/val/test splits in splits/*.txt.

    \b
    Nothing half-written is left at --out: objects go to a hidden .<out>.partial folder that
    is renamed to --out when complete. An interrupted run resumes: rerun the same command
    and only the objects not yet written are made (a complete dataset made with the same
    options is left as it is). A dataset made with other options at --out is refused unless
    --overwrite.
    """
    import time
    from pathlib import Path

    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.data.synth.presets import load_preset
    from clip2nerf.data.synth.preview import write_contact_sheet
    from clip2nerf.data.synth.writer import SynthConfig, generate_dataset

    base = load_preset(preset) if preset else {}
    cfg = SynthConfig(
        classes=_parse_classes(classes) or CLASSES,
        per_class=per_class if per_class is not None else base.get("per_class", 8),
        views=views if views is not None else base.get("views", 36),
        res=res if res is not None else base.get("res", 128),
        supersample=supersample if supersample is not None else base.get("supersample", 2),
        seed=seed,
        preset=preset,
    )
    out_path = Path(out) if out else Path("data") / (preset or "synth")
    if preview is not None:
        pv = Path(preview)
        if pv.suffix.lower() != ".png":
            raise UserError(f"--preview {preview}: must be a .png file")
        if pv.exists() and pv.is_dir():
            raise UserError(f"--preview {preview}: is a folder")
    t0 = time.perf_counter()
    report = generate_dataset(out_path, cfg, overwrite=overwrite, workers=workers,
                              progress=not quiet)
    resumed = f" ({report.n_resumed} resumed from an interrupted run)" if report.n_resumed else ""
    if report.up_to_date:
        click.echo(f"{report.out} already holds this dataset ({report.n_objects} objects, same "
                   "options): nothing to do; --overwrite remakes it")
    else:
        click.echo(f"wrote {report.n_objects} objects ({len(cfg.classes)} classes x "
                   f"{cfg.per_class}), {cfg.views} views each at {cfg.res}x{cfg.res}, to "
                   f"{report.out}{resumed} in {report.seconds:.1f} s; splits: "
                   + ", ".join(f"{k} {v}" for k, v in report.splits.items()))
    if preview is not None:
        try:
            path = write_contact_sheet(open_dataset(report.out), preview, per_class=8,
                                       scale=max(1, 128 // cfg.res))
        except OSError as exc:
            raise UserError(f"--preview {preview}: cannot write ({exc.strerror or exc})") from None
        click.echo(f"wrote contact sheet {path} ({time.perf_counter() - t0:.1f} s in all)")
    return 0
