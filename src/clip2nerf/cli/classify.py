"""``clip2nerf classify``: zero-shot labels of NeRF files (nf2vec -> nerf2clip -> 1-NN)."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.classes import ZERO_SHOT_TEMPLATE
from clip2nerf.utils.device import DEVICE_CHOICES

VLM_HELP = ("VLM the nerf2clip mapper was trained with: zeroshot, offline, clip, auto, a model folder or "
            "a hub id (a mapper trained with another VLM is refused).")


@click.command(name="classify", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("nerfs", nargs=-1, required=True, type=click.Path(path_type=Path))  # files or folders
@click.option("--nf2vec", "nf2vec_dirs", required=True, multiple=True,
              type=click.Path(path_type=Path),
              help="Trained nf2vec model folder (the one the mapper was trained for). Repeat "
                   "--nf2vec and --nerf2clip in pairs for an ensemble: labels from the mean of "
                   "the pairs' nerf2clip outputs (steadier than one model on few training "
                   "NeRFs; `clip2nerf demo --ensemble K` trains such members).")
@click.option("--nerf2clip", "mapper_dirs", required=True, multiple=True,
              type=click.Path(path_type=Path),
              help="nerf2clip mapper folder from `clip2nerf map train --direction nerf2clip` "
                   "(one per --nf2vec, in the same order).")
@click.option("--vlm", "vlm_spec", default="zeroshot", show_default=True, help=VLM_HELP)
@click.option("--classes", default=None,
              help="Comma-separated class names to choose from [default: the 13 ShapeNet "
                   "classes of the paper].")
@click.option("--template", default=ZERO_SHOT_TEMPLATE, show_default=True,
              help="Prompt template; {} is replaced by the class name.")
@click.option("--batch-size", type=opt.BATCH_SIZE, default=256, show_default=True,
              help="NeRFs read and encoded together (a folder of thousands streams in chunks).")
@click.option("--read-workers", type=opt.WORKERS, default=4, show_default=True,
              help="Threads reading NeRF files.")
@click.option("--threads", type=opt.THREADS, default=0, show_default=True,
              help="CPU threads for the encoder (0 = all available cores).")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
def command(nerfs, nf2vec_dirs, mapper_dirs, vlm_spec, classes, template, batch_size,
            read_workers, threads, device) -> None:
    """Label NERF files (or folders of them) zero-shot: only their MLP weights are read.

    Prints one line per file: path, predicted label, cosine score, and the class stored in
    the file (when it has one), then the accuracy if every file has a stored class. Many
    files go through the batched path: threaded file reads, one encoder / nerf2clip batch
    per chunk, one matrix product against the prompts (embedded once).
    """
    from clip2nerf.apps import ZeroShotClassifier, load_mapper
    from clip2nerf.apps.classify import check_template, expand_nerf_paths
    from clip2nerf.errors import UserError
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.utils.device import resolve_device
    from clip2nerf.utils.threads import set_threads
    from clip2nerf.vlm import load_vlm

    class_list = None
    if classes is not None:
        class_list = [c.strip() for c in classes.split(",") if c.strip()]
        if not class_list:
            raise UserError("--classes: give at least one class name")
    if len(nf2vec_dirs) != len(mapper_dirs):
        raise UserError(f"{len(nf2vec_dirs)} --nf2vec but {len(mapper_dirs)} --nerf2clip: give "
                        "one nerf2clip mapper per nf2vec model, in the same order")
    check_template(template)
    files = expand_nerf_paths(nerfs)
    set_threads(threads)
    dev = str(resolve_device(device))
    vlm = load_vlm(vlm_spec, device=dev)
    pairs = []
    for nf2vec_dir, mapper_dir in zip(nf2vec_dirs, mapper_dirs, strict=True):
        model = Nf2vec.from_pretrained(nf2vec_dir, dev)
        pairs.append((model, load_mapper(mapper_dir, "nerf2clip", vlm, model, device=dev)))
    classifier = ZeroShotClassifier(*pairs[0], vlm, class_list, template, dev,
                                    batch_size=batch_size, read_workers=read_workers,
                                    members=pairs[1:])
    results = classifier.classify_files(files)
    width = max(len(r.path) for r in results)
    known = [r for r in results if r.stored_class not in ("", "unknown")]
    for r in results:
        stored = f"  (stored: {r.stored_class})" if r in known else ""
        click.echo(f"{r.path:<{width}}  {r.label:<12} {r.score:.3f}{stored}")
    if known and len(known) == len(results):
        acc = sum(r.label == r.stored_class for r in results) / len(results)
        click.echo(f"accuracy {acc:.3f} over {len(results)} NeRFs (VLM {vlm.name})", err=True)
