"""``clip2nerf describe``: the nearest captions of NeRF files (nf2vec -> nerf2clip -> bank)."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.utils.device import DEVICE_CHOICES


@click.command(name="describe", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("nerfs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--nf2vec", "nf2vec_dir", required=True, type=click.Path(path_type=Path),
              help="Trained nf2vec model folder (the one the mapper was trained for).")
@click.option("--nerf2clip", "mapper_dir", required=True, type=click.Path(path_type=Path),
              help="nerf2clip mapper folder from `clip2nerf map train --direction nerf2clip`.")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Dataset whose captions form the bank (and, for NeRFs of its objects, the "
                   "truth the class/colour scores compare with).")
@click.option("--bank-split", default="train", show_default=True,
              help="Split whose captions form the bank (train, val, test or all).")
@click.option("--captions", "caption_file", type=click.Path(path_type=Path), default=None,
              help="Use a captioner's caption file (`clip2nerf caption`) as the bank "
                   "[default: the dataset's own captions].")
@click.option("--vlm", "vlm_spec", default="zeroshot", show_default=True,
              help="VLM the nerf2clip mapper was trained with.")
@click.option("--k", type=opt.K, default=3, show_default=True, help="Captions per NeRF.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
def command(nerfs, nf2vec_dir, mapper_dir, data, bank_split, caption_file, vlm_spec, k,
            device) -> None:
    """Describe NERF files in words: their weights are embedded (nf2vec), mapped into the VLM
    space (nerf2clip), and the nearest sentences of the caption bank are printed with their
    cosine scores. When the NeRFs are objects of --data, the class and colour words of the
    best caption are scored against the truth."""
    from clip2nerf.apps import load_mapper
    from clip2nerf.apps.describe import dataset_caption_bank, describe_nerfs, describe_scores
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.utils.device import resolve_device
    from clip2nerf.vlm import load_vlm

    dev = str(resolve_device(device))
    model = Nf2vec.from_pretrained(nf2vec_dir, dev)
    vlm = load_vlm(vlm_spec, device=dev)
    mapper = load_mapper(mapper_dir, "nerf2clip", vlm, model, device=dev)
    split = None if bank_split == "all" else bank_split
    bank = dataset_caption_bank(vlm, data, split, caption_file)
    results = describe_nerfs(nerfs, model, mapper, vlm, bank, k, device=dev)
    for r in results:
        stored = f"  (stored: {r.stored_class})" if r.stored_class not in ("", "unknown") else ""
        click.echo(f"{r.path}{stored}")
        for text, score, _ in r.captions:
            click.echo(f"  {score:.3f}  {text}")
    ds = open_dataset(data)
    known = set(ds.object_ids())
    if all(r.object_id in known for r in results):
        objs = [ds.get(r.object_id) for r in results]
        s = describe_scores(results, [list(o.meta.get("colors", {}).values()) for o in objs],
                            [o.caption or "" for o in objs])
        click.echo(f"best caption over {s['n']} NeRFs: class right {s['class']:.3f}, main colour "
                   f"right {s['main_colour']:.3f}, colour-word precision "
                   f"{s['colour_precision']:.3f} (bank: {bank.source}; VLM {vlm.name})", err=True)
