"""``clip2nerf map train``: train a clip2nerf or nerf2clip mapping network."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

import clip2nerf.cli.options as opt
from clip2nerf.utils.device import DEVICE_CHOICES

if TYPE_CHECKING:
    from clip2nerf.mapping.config import Direction, ViewSource


def _read_ids(path: Path, option: str) -> list[str]:
    from clip2nerf.data.dataset import read_id_list
    from clip2nerf.errors import UserError

    ids = read_id_list(path, option)
    if not ids:
        raise UserError(f"{option} {path}: no ids in the file")
    if len(set(ids)) != len(ids):
        dup = next(i for n, i in enumerate(ids) if i in ids[:n])
        raise UserError(f"{option} {path}: id {dup!r} is listed more than once")
    return ids


def _default_splits(nerf, train_file: Path | None, val_file: Path | None):
    """Train/val ids from the files given, else from the NeRF table's per-object splits."""
    from clip2nerf.errors import UserError

    splits = nerf.extra.get("splits")
    per_object = isinstance(splits, list) and len(splits) == len(nerf)
    if train_file is not None:
        train = _read_ids(train_file, "--split-ids")
        origin = str(train_file)
        if val_file is None and train_file.name == "train.txt" \
                and (train_file.parent / "val.txt").is_file():
            val_file = train_file.parent / "val.txt"
    elif per_object:
        train = [i for i, s in zip(nerf.ids, splits, strict=True) if s == "train"]
        origin = "the NeRF embeddings' 'train' split"
        if not train:
            raise UserError("the NeRF embeddings list no 'train' objects; pass --split-ids")
    else:
        train, origin = list(nerf.ids), "all objects (no --split-ids given)"
    if val_file is not None:
        val = _read_ids(val_file, "--val-ids")
    elif per_object and train_file is None:
        val = [i for i, s in zip(nerf.ids, splits, strict=True) if s == "val"]
    else:
        val = []
    overlap = set(train) & set(val)
    if overlap:
        raise UserError(f"{len(overlap)} ids are in both the train and val lists "
                        f"(e.g. {sorted(overlap)[0]})")
    return train, val, origin


@click.group(name="map")
def command() -> None:
    """Train the feature mapping networks between the VLM and nf2vec spaces (paper §3.2)."""


@command.command("train")
@click.option("--nerf-emb", type=click.Path(exists=True, path_type=Path), required=True,
              help="nf2vec NeRF embeddings (file or shard folder), (n, 1024).")
@click.option("--view-emb", type=click.Path(exists=True, path_type=Path), required=True,
              help="VLM view embeddings (file or shard folder), (n, n_views, d).")
@click.option("--caption-emb", type=click.Path(exists=True, path_type=Path), default=None,
              help="VLM caption embeddings (n, d) or (n, n_captions, d): trains the multimodal "
                   "clip2nerf (paper Table 5).")
@click.option("--extra-views", type=click.Path(exists=True, path_type=Path), default=None,
              help="clip2nerf: VLM embeddings of augmented images of training objects (e.g. "
                   "`augment photo` then `vlm embed-views`); each image is one more training "
                   "pair with its object's NeRF embedding (paper §6.1: 7 renders + 7 "
                   "generated images per object).")
@click.option("--direction", type=click.Choice(["clip2nerf", "nerf2clip"]), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Model folder (config.json + model.safetensors; checkpoint.pt while training).")
@click.option("--views", "n_views", type=opt.N_VIEWS_TARGET, default=None,
              help="nerf2clip: average n random views per object as the target (default: all).")
@click.option("--views-source", type=click.Choice(["gt", "rendered"]), default="gt",
              show_default=True, help="What the view embeddings were computed from (recorded).")
@click.option("--epochs", type=opt.EPOCHS, default=None,
              help="Default: the paper's (150 clip2nerf, 100 nerf2clip).")
@click.option("--lr", type=opt.LR, default=None,
              help="Peak one-cycle learning rate. Default: the paper's (1e-5 clip2nerf, "
                   "1e-3 nerf2clip).")
@click.option("--batch-size", type=opt.BATCH_SIZE, default=64, show_default=True)
@click.option("--weight-decay", type=opt.WEIGHT_DECAY, default=1e-2, show_default=True)
@click.option("--seed", type=opt.SEED, default=0, show_default=True)
@click.option("--split-ids", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Training object ids, one per line (e.g. DATA/splits/train.txt; "
                                 "a val.txt beside it is used for validation). Default: the "
                                 "NeRF embeddings' own train/val splits, else all objects.")
@click.option("--val-ids", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Validation object ids, one per line.")
@click.option("--overwrite", is_flag=True, help="Discard an existing model/checkpoint in --out.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
def train(nerf_emb: Path, view_emb: Path, caption_emb: Path | None, extra_views: Path | None,
          direction: Direction,
          out: Path, n_views: int | None, views_source: ViewSource, epochs: int | None, lr: float | None,
          batch_size: int, weight_decay: float, seed: int, split_ids: Path | None,
          val_ids: Path | None, overwrite: bool, device: str) -> None:
    """Train a mapper on the train split; validate each epoch; resume if interrupted.

    Rerunning the same command after an interruption continues from the last epoch.
    Defaults are the paper's recipe. On small data and CPU the clip2nerf default (150
    epochs at lr 1e-5) is slow: on synthetic data of 100-500 objects x 36 views,
    --epochs 10 --lr 1e-3 reached the same validation recall@1 in 1/13 of the time
    (benchmarks/bench_mapping.py); both recipes are recorded in config.json.
    """
    from clip2nerf.errors import UserError
    from clip2nerf.mapping import MapperConfig, TrainConfig, train_mapper
    from clip2nerf.mapping.data import check_tables
    from clip2nerf.mapping.train import CHECKPOINT_NAME, is_trained
    from clip2nerf.utils.device import resolve_device
    from clip2nerf.utils.embeddings import load_embeddings

    dev = resolve_device(device)
    nerf = load_embeddings(nerf_emb)
    views = load_embeddings(view_emb)
    captions = load_embeddings(caption_emb) if caption_emb is not None else None
    if captions is not None and direction != "clip2nerf":
        raise UserError("--caption-emb trains the multimodal clip2nerf; drop it for nerf2clip")
    extra = load_embeddings(extra_views) if extra_views is not None else None
    if extra is not None and direction != "clip2nerf":
        raise UserError("--extra-views adds clip2nerf training pairs; drop it for nerf2clip")
    train_ids, val, origin = _default_splits(nerf, split_ids, val_ids)
    config = MapperConfig(
        direction=direction, vlm_space=views.space, vlm_dim=views.dim,
        nf2vec_space=nerf.space, nf2vec_dim=nerf.dim, views_source=views_source,
        n_views=n_views, multimodal=captions is not None,
        train=TrainConfig.paper(direction, epochs=epochs, lr=lr, batch_size=batch_size,
                                weight_decay=weight_decay, seed=seed))
    check_tables(config, nerf, views, captions)
    if out.exists() and overwrite:
        shutil.rmtree(out)
    elif is_trained(out) and not (out / CHECKPOINT_NAME).is_file():
        raise UserError(f"{out} already holds a model; pass --overwrite or another --out")
    tc = config.train
    click.echo(f"{direction}: {len(train_ids)} train objects ({origin}), {len(val)} val; "
               f"{tc.epochs} epochs, lr {tc.lr:g}, batch {tc.batch_size}, on {dev}", err=True)
    if extra is not None:
        click.echo(f"extra views: {int(extra.vectors[..., 0].size)} images of {len(extra)} "
                   f"objects from {extra_views}", err=True)
    result = train_mapper(config, nerf, views, train_ids, val or None, captions, out, dev,
                          extra_views=extra)
    last = result.history[-1] if result.history else {}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in last.items()
                        if k in ("train_loss", "val_loss", "val_recall@1"))
    if result.resumed_from_epoch:
        click.echo(f"resumed from epoch {result.resumed_from_epoch}", err=True)
    click.echo(f"wrote {out} ({summary})")
