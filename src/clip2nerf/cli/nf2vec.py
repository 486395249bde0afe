"""``clip2nerf nf2vec``: train the NeRF meta-encoder/decoder, embed NeRFs, decode embeddings."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.cli.executor_options import executor_config, executor_options
from clip2nerf.utils.device import DEVICE_CHOICES


@click.group("nf2vec")
def command() -> None:
    """nf2vec: embed NeRFs from their MLP weights (no rendering), render from embeddings."""


def _load_config(preset: str):
    """A preset name (``cpu``, ``released``) or a JSON file of the same shape."""
    import json

    from clip2nerf.errors import UserError
    from clip2nerf.nf2vec.config import Nf2vecConfig, TrainConfig, load_preset

    if preset.endswith(".json"):
        path = Path(preset)
        from clip2nerf.utils.io import read_json

        d = read_json(path, "--preset file")
        try:
            model = Nf2vecConfig.from_dict({"name": path.stem, **d["model"]})
            return model, TrainConfig.from_dict(d.get("train", {}))
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            raise UserError(f"--preset {path}: not an nf2vec preset ({exc})") from None
    return load_preset(preset)


@command.command("train")
@click.option("--nerfs", required=True, type=click.Path(path_type=Path),
              help="Folder of NeRF files from `clip2nerf fit` (train split trains, val validates).")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Model folder (config.json + model.safetensors, checkpoint, history.json).")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Dataset the NeRFs were fitted on: take train/val splits from its splits/*.txt.")
@click.option("--preset", default="cpu", show_default=True,
              help="Preset name (cpu, cpu-color, released) or a JSON file "
                   "{\"model\": ..., \"train\": ...}. cpu-color: decoded views keep colour.")
@click.option("--epochs", type=opt.EPOCHS, default=None, help="Override the preset's epochs.")
@click.option("--batch-size", type=opt.BATCH_SIZE, default=None, help="NeRFs per step (override).")
@click.option("--lr", type=opt.LR, default=None, help="Peak learning rate (override).")
@click.option("--loss", type=click.Choice(["distill", "render"]), default=None,
              help="Field distillation (cheap) or nf2vec's rendering loss (override).")
@click.option("--stop-after", type=opt.STOP_AFTER, default=None,
              help="Stop after this many epochs of this run; rerun to resume.")
@click.option("--threads", type=opt.THREADS, default=1, show_default=True,
              help="CPU threads for training (small layers gain little from more, and on a busy "
                   "machine extra threads spin; 0 = all available cores).")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
def train_cmd(nerfs: Path, out: Path, data: Path | None, preset: str, epochs: int | None, batch_size: int | None,
              lr: float | None, loss: str | None, stop_after: int | None, threads: int,
              device: str) -> None:
    """Train encoder + decoder end to end; checkpoints every epoch, a rerun resumes."""
    import dataclasses

    from clip2nerf.nf2vec.train import train_nf2vec
    from clip2nerf.utils.device import resolve_device
    from clip2nerf.utils.threads import set_threads

    set_threads(threads)
    model_cfg, train_cfg = _load_config(preset)
    overrides = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size, "lr": lr,
                                   "loss": loss}.items() if v is not None}
    train_cfg = dataclasses.replace(train_cfg, **overrides)
    splits = None
    if data is not None:
        from clip2nerf.nf2vec.nerfs import dataset_splits

        splits = dataset_splits(data)
    history = train_nf2vec(nerfs, out, model_cfg, train_cfg, resolve_device(device),
                           stop_after=stop_after, splits=splits)
    if history:
        last = history[-1]
        val = "-" if last["val_psnr"] is None else f"{last['val_psnr']:.2f} dB"
        click.echo(f"wrote {out} (epoch {last['epoch']}/{train_cfg.epochs}, loss "
                   f"{last['loss']:.4f}, val PSNR {val})")


@command.command("embed")
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path),
              help="Trained nf2vec model folder.")
@click.option("--nerfs", required=True, type=click.Path(path_type=Path),
              help="A NeRF file or a folder of them.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Embeddings file (.safetensors) to write, atomically.")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Dataset the NeRFs were fitted on: record each NeRF's split beside its vector.")
@click.option("--batch-size", type=opt.BATCH_SIZE, default=256, show_default=True)
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@executor_options(default_shard_size=1024)
def embed_cmd(model_dir: Path, nerfs: Path, out: Path, data: Path | None, batch_size: int,
              device: str, executor: str, ray_address: str | None, shard_size: int,
              max_retries: int) -> None:
    """Embed NeRF files into 1024-d unit vectors (ids, classes, source paths beside them).

    \b
    A folder is embedded in shards of --shard-size NeRF files (--executor ray: each a Ray
    task); finished shards wait in OUT.parts/ (a rerun after an interruption skips them)
    and are joined into OUT at the end.
    """
    from clip2nerf.nf2vec.embed import embed_nerfs
    from clip2nerf.nf2vec.model import Nf2vec
    from clip2nerf.nf2vec.nerfs import dataset_splits
    from clip2nerf.utils.device import resolve_device

    opt.check_out_file(out, "--out", None)
    ex = executor_config(executor, ray_address, shard_size, max_retries)
    splits = dataset_splits(data) if data is not None else None
    if ex.kind == "ray" or nerfs.is_dir():  # resumable shards, one in memory at a time
        from tqdm import tqdm

        from clip2nerf.nf2vec.embed import embed_nerfs_sharded

        with tqdm(desc="embed", unit="nerf") as bar:
            head = embed_nerfs_sharded(model_dir, nerfs, out, ex, batch_size, device, splits,
                                       on_shard=bar.update)
        click.echo(f"wrote {out}: {len(head.ids)} embeddings of dim {head.shape[-1]} "
                   f"({head.space})")
        return
    else:
        dev = resolve_device(device)
        model = Nf2vec.from_pretrained(model_dir, dev)
        table = embed_nerfs(model, nerfs, batch_size, dev, progress=True, splits=splits)
        table.save(out)
    click.echo(f"wrote {out}: {len(table)} embeddings of dim {table.dim} ({table.space})")


@command.command("decode")
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path),
              help="Trained nf2vec model folder.")
@click.option("--nerf", "nerf_file", type=click.Path(path_type=Path), default=None,
              help="Embed this NeRF file and decode it (its own renders go in the top row).")
@click.option("--embedding", type=click.Path(path_type=Path), default=None,
              help="Embeddings file from `nf2vec embed` (with --id).")
@click.option("--id", "object_id", default=None, help="Object id to decode from --embedding.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="PNG to write.")
@click.option("--views", type=opt.VIEWS, default=4, show_default=True)
@click.option("--resolution", type=opt.RESOLUTION, default=96, show_default=True)
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
def decode_cmd(model_dir: Path, nerf_file: Path | None, embedding: Path | None,
               object_id: str | None, out: Path, views: int, resolution: int,
               device: str) -> None:
    """Render views of the radiance field an embedding decodes to."""
    import torch
    from PIL import Image

    from clip2nerf.errors import UserError
    from clip2nerf.nf2vec.embed import embed_matrices
    from clip2nerf.nf2vec.model import Nf2vec
    from clip2nerf.nf2vec.nerfs import batched_nerf_forward, load_nerf_set
    from clip2nerf.nf2vec.views import (
        image_grid,
        psnr,
        render_embedding,
        render_field_views,
        view_poses,
    )
    from clip2nerf.utils.device import resolve_device
    from clip2nerf.utils.embeddings import load_embeddings
    from clip2nerf.utils.io import atomic_path

    if (nerf_file is None) == (embedding is None):
        raise UserError("give exactly one of --nerf FILE or --embedding EMB --id OBJECT_ID")
    if embedding is not None and not object_id:
        raise UserError("--embedding needs --id OBJECT_ID (which row to decode)")
    opt.check_out_file(out, "--out", ".png")
    dev = resolve_device(device)
    model = Nf2vec.from_pretrained(model_dir, dev)
    poses = view_poses(views)
    rows = []
    if nerf_file is not None:
        from clip2nerf.nerf.io import load_nerf

        if not nerf_file.is_file():
            raise UserError(f"--nerf {nerf_file}: not a file")
        nerfs = load_nerf_set(nerf_file, model.config.nerf)
        emb = embed_matrices(model, nerfs.matrices, device=dev)[0].to(dev)
        nf = load_nerf(nerf_file)
        mat = nerfs.matrices.to(dev)

        def field(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            rgb, s = batched_nerf_forward(mat, x[None], model.config.nerf)
            return rgb[0], s[0]

        rows.append(render_field_views(field, nf.aabb, poses, resolution, nf.occupancy,
                                       device=dev))
        label = nerfs.ids[0]
    else:
        table = load_embeddings(embedding, expect_space=model.space)
        if table.vectors.ndim != 2 or table.dim != model.config.encoder.embed_dim:
            raise UserError(f"--embedding {embedding}: vectors {table.vectors.shape}, expected "
                            f"(n, {model.config.encoder.embed_dim})")
        emb = torch.from_numpy(table.subset([object_id]).vectors[0]).to(dev)
        label = object_id
    decoded = render_embedding(model.decoder, emb, poses, resolution)
    rows.append(decoded)
    with atomic_path(out) as tmp:
        Image.fromarray(image_grid(rows)).save(tmp, format="PNG")
    msg = f"wrote {out}: {views} decoded views of {label}"
    if len(rows) == 2:
        msg += f" under the NeRF's own (PSNR {psnr(decoded, rows[0]):.2f} dB)"
    click.echo(msg)
