"""``clip2nerf demo``: the whole chain on bundled data, end to end, cached in a workdir."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.utils.device import DEVICE_CHOICES


@click.command(name="demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("clip2nerf-demo"), show_default=True,
              help="Folder for every artefact; a rerun reuses what finished.")
@click.option("--preset", type=click.Choice(["tiny", "small", "bench"]), default="small",
              show_default=True, help="Dataset size: tiny (13x6 objects, 12 views), small (13x8), "
                                      "bench (13x40).")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--workers", type=opt.WORKERS, default=2, show_default=True,
              help="Parallel NeRF-fitting processes on CPU (one per core is fastest).")
@click.option("--seed", type=opt.SEED, default=0, show_default=True)
@click.option("--ensemble", type=click.IntRange(1, 8), default=1, show_default=True,
              help="nf2vec models (each with its own mappers, seeds SEED, SEED+1, ...) whose "
                   "outputs the tour averages: steadier labels and search than one model, for "
                   "~3 min more per extra model on small (see WORKDIR/report/ensemble.md).")
def command(workdir: Path, preset: str, device: str, workers: int, seed: int,
            ensemble: int) -> None:
    """Run the whole system on bundled synthetic data and take a short tour.

    \b
    Stages (each cached in WORKDIR; a rerun or a run after Ctrl-C redoes nothing finished):
      synth    procedural objects of 13 classes, 36 views each
      fit      one NeRF per object (the nf2vec MLP architecture)
      nf2vec   train the meta-encoder/decoder (cpu preset) on train-split NeRFs
      vlm      build the offline VLM (frozen MiniLM text tower, train-split views)
      eval     embed everything, train clip2nerf/nerf2clip, write the paper's tables
      gallery  faiss index of the held-out NeRFs
      ensemble (--ensemble K > 1) K-1 more nf2vec models + mappers, compared in
               WORKDIR/report/ensemble.md
    Then the tour: zero-shot labels of held-out NeRFs (no rendering), top-5 NeRFs for text
    queries and for a photo, and views generated from a sentence; PNG strips in WORKDIR/tour.
    """
    from clip2nerf.demo import DemoConfig, run_demo

    run_demo(DemoConfig(workdir=workdir, preset=preset, device=device,  # type: ignore[arg-type]
                        workers=workers, seed=seed, ensemble=ensemble), echo=lambda m: click.echo(m, err=True))
