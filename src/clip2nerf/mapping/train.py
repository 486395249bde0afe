"""Training loop of the mapping networks: AdamW + one-cycle LR on the cosine loss.

A run with an output folder checkpoints there (``checkpoint.pt``: model, optimiser, scheduler,
history, settings; ``clip2nerf.utils.checkpoint``'s format, written atomically) every
``CHECKPOINT_SECONDS``, after the last epoch and when interrupted between epochs, so an
interrupted run resumes after its last checkpointed epoch and — because shuffling is seeded
per epoch — ends with exactly the weights an uninterrupted run would have.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clip2nerf.errors import UserError
from clip2nerf.mapping.config import MapperConfig
from clip2nerf.mapping.data import (
    PairSet,
    build_pairs,
    check_extra_views,
    check_tables,
    ids_fingerprint,
)
from clip2nerf.mapping.losses import cosine_loss
from clip2nerf.mapping.model import CONFIG_NAME, WEIGHTS_NAME, FeatureMapper
from clip2nerf.utils.checkpoint import seeded
from clip2nerf.utils.embeddings import EmbeddingTable
from clip2nerf.utils.io import atomic_write_json
from clip2nerf.utils.train_loop import TrainLoop, adamw_one_cycle
from clip2nerf.utils.training import check_finite_weights

CHECKPOINT_SECONDS = 20.0
"""Least wall time between two checkpoints of one mapper run."""
EVAL_CHUNK_ROWS = 2048
"""Val pairs mapped at a time: bounds the activations and per-pair targets (``_evaluate``)."""
CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.json"


@dataclass
class TrainResult:
    """What a training run produced."""

    model: FeatureMapper
    history: list[dict[str, Any]] = field(default_factory=list)
    """One record per epoch: epoch, train_loss, val_loss, val_recall@1, lr, seconds."""
    resumed_from_epoch: int = 0
    n_train_pairs: int = 0


def class_recall_at_1(pred: np.ndarray, pair_object: np.ndarray, gallery: np.ndarray,
                      labels: list[str]) -> float:
    """Share of mapped rows whose nearest *other* object (cosine) has their class.

    pred: (q, d) mapped inputs; pair_object: (q,) row of each query's object in ``gallery``
    (n, d); the query's own object is excluded, as in the paper's retrieval protocol.
    Only queries whose class has another object in the gallery count (the others cannot be
    right); NaN when there are none (e.g. one val object per class) or no labels.
    """
    from clip2nerf.utils.recall import dense_recall_at_k

    if len(gallery) < 2 or not any(labels):
        return float("nan")
    return dense_recall_at_k(pred, gallery, pair_object, labels, (1,), answerable_only=True)[1]


def _answerable_val(val: PairSet | None, train: PairSet) -> PairSet | None:
    """``val`` unchanged when some val object shares its class with another val object; else
    (e.g. ``small``: 13 val objects, one per class, where the val-only recall is always NaN)
    ``val`` whose retrieval gallery also holds the training objects (the query's own object
    still excluded; queries and targets unchanged, so val_loss is the same)."""
    if val is None or not any(val.labels):
        return val
    _, counts = np.unique(np.asarray(val.labels), return_counts=True)
    if (counts > 1).any():
        return val
    return PairSet(val.inputs, val.object_targets, val.object_index, val.ids + train.ids,
                   val.labels + train.labels,
                   np.concatenate([val.target_gallery, train.target_gallery]))


def _evaluate(model: FeatureMapper, pairs: PairSet, device: torch.device,
              chunk_rows: int = EVAL_CHUNK_ROWS) -> tuple[float, float]:
    """Validation loss (the mean over pairs) and class recall@1 of the mapped inputs.

    Mapped in chunks of pairs, each chunk's targets picked from the per-object ones: the
    activations and per-pair targets of a whole val split grow with it (4,000 objects x 36
    views x 1024 floats is 590 MB for each), a chunk's do not.
    """
    n = len(pairs)
    pred = np.empty((n, model.config.out_dim), dtype=np.float32)
    y = torch.from_numpy(pairs.object_targets).to(device)
    loss_sum = 0.0
    with torch.no_grad():
        model.eval()
        for start in range(0, n, chunk_rows):
            rows = slice(start, start + chunk_rows)
            p = model(torch.from_numpy(pairs.inputs[rows]).to(device))
            own = torch.from_numpy(pairs.object_index[rows]).to(device)
            loss_sum += float(cosine_loss(p, y[own])) * len(own)
            pred[rows] = p.cpu().numpy()
        model.train()
    return loss_sum / n, class_recall_at_1(pred, pairs.object_index, pairs.target_gallery,
                                           pairs.labels)


def _make_model(config: MapperConfig) -> FeatureMapper:
    # Seed weight init without disturbing the caller's global RNG.
    with seeded(config.train.seed):
        return FeatureMapper(config)


def train_mapper(config: MapperConfig, nerf: EmbeddingTable, views: EmbeddingTable,
                 train_ids: list[str], val_ids: list[str] | None = None,
                 captions: EmbeddingTable | None = None, out: str | Path | None = None,
                 device: str | torch.device = "cpu", progress: bool = True,
                 on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
                 cpu_threads: int | None = 1,
                 extra_views: EmbeddingTable | None = None) -> TrainResult:
    """Train a mapper on ``train_ids``; validate on ``val_ids`` after every epoch.

    With ``out`` the run checkpoints there (every ``CHECKPOINT_SECONDS``, at the end, and when
    interrupted between epochs), resumes from an existing checkpoint of
    the same config and data, and finally writes the model folder (``config.json`` +
    ``model.safetensors``) and ``train_log.json``. A checkpoint of different settings is
    refused rather than overwritten.

    ``cpu_threads`` caps torch's CPU threads while training (restored afterwards; ``None``
    leaves them alone). The layers are too small to gain from more threads, and on a busy
    machine idle threads spin: 6 epochs on 90 pairs took 30 s with 2 threads and 0.7 s with 1
    on our loaded 2-core machine.

    ``extra_views`` (clip2nerf): embeddings of augmented images of training objects, each one
    more training pair (validation uses the plain views only).
    """
    threads = torch.get_num_threads()
    if cpu_threads is not None and torch.device(device).type == "cpu":
        torch.set_num_threads(cpu_threads)
    try:
        return _train(config, nerf, views, train_ids, val_ids, captions, out, device, progress,
                      on_epoch_end, extra_views)
    finally:
        torch.set_num_threads(threads)


def _pairs(config: MapperConfig, nerf, views, train_ids, val_ids, captions,
           extra_views) -> tuple[MapperConfig, PairSet, PairSet | None]:
    """The run's config (a copy with the data's fingerprint) and its train and val pairs."""
    check_tables(config, nerf, views, captions)
    config.train.validate()
    config = copy.deepcopy(config)  # the fingerprint and extra views are set on a copy
    config.train_ids_sha1 = ids_fingerprint(list(train_ids))
    if extra_views is not None:
        check_extra_views(config, views, extra_views, list(train_ids))
        if config.extra_views is None:
            n_img = int(np.prod(extra_views.vectors.shape[:-1]))
            name = extra_views.extra.get("dataset", "extra views")
            config.extra_views = f"{name}: {n_img} images of {len(extra_views)} objects"
    elif config.extra_views is not None:
        raise UserError("the config names extra training views but none were given")
    train = build_pairs(config, nerf, views, list(train_ids), captions,
                        extra_views=extra_views)
    val = (build_pairs(config, nerf, views, list(val_ids), captions, subset_views=False)
           if val_ids else None)
    return config, train, _answerable_val(val, train)


def _train(config, nerf, views, train_ids, val_ids, captions, out, device, progress,
           on_epoch_end, extra_views=None) -> TrainResult:
    device = torch.device(device)
    config, train, val = _pairs(config, nerf, views, train_ids, val_ids, captions, extra_views)
    tc = config.train
    model = _make_model(config).to(device)
    optimizer, scheduler = adamw_one_cycle(model.parameters(), tc.lr, tc.weight_decay,
                                           tc.epochs * math.ceil(len(train) / tc.batch_size))
    settings = f"--lr {tc.lr:g} --weight-decay {tc.weight_decay:g} --batch-size {tc.batch_size}"
    # Checkpoints cost more than a small mapper's epoch: one every CHECKPOINT_SECONDS.
    loop = TrainLoop(model, optimizer, scheduler, tc.epochs, settings,
                     checkpoint=Path(out) / CHECKPOINT_NAME if out is not None else None,
                     config=config.to_dict(), what="mapper", save_every_s=CHECKPOINT_SECONDS,
                     desc=f"train {config.direction}", progress=progress)
    loop.resume(refused=f"{out} holds a run with other settings or data; pass another "
                        "--out, or --overwrite to start over")
    x = torch.from_numpy(train.inputs).to(device)
    y = torch.from_numpy(train.object_targets).to(device)  # one row per object
    pair_object = torch.from_numpy(train.object_index).to(device)

    def train_epoch(epoch: int) -> dict[str, Any]:
        # Per-epoch seed: the order of epoch e does not depend on whether the run resumed.
        gen = torch.Generator().manual_seed(tc.seed * 1_000_003 + epoch)
        order = torch.randperm(len(train), generator=gen).to(device)
        total = 0.0
        for start in range(0, len(train), tc.batch_size):
            idx = order[start:start + tc.batch_size]
            total += loop.step(cosine_loss(model(x[idx]), y[pair_object[idx]])) * len(idx)
        return {"train_loss": total / len(train), "lr": scheduler.get_last_lr()[0]}

    def evaluate(epoch: int) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if val is not None:
            fields["val_loss"], fields["val_recall@1"] = _evaluate(model, val, device)
        fields["seconds"] = time.perf_counter() - loop.epoch_started
        return fields

    def on_save(done: int) -> None:
        atomic_write_json(Path(out) / LOG_NAME, {"history": loop.history,
                                                 "n_train_pairs": len(train),
                                                 "n_val_pairs": len(val) if val else 0})

    loop.run(train_epoch, evaluate, on_save=on_save, after_epoch=on_epoch_end,
             postfix=lambda r: {"loss": f"{r['train_loss']:.4f}",
                                **({"val": f"{r['val_loss']:.4f}"} if val is not None else {})})
    if out is not None:
        check_finite_weights(model, "at the end of training", settings)
        model.save_pretrained(out)
    return TrainResult(model, loop.history, loop.start_epoch, len(train))


def is_trained(folder: str | Path) -> bool:
    """True when ``folder`` holds a finished model (weights and config)."""
    folder = Path(folder)
    return (folder / CONFIG_NAME).is_file() and (folder / WEIGHTS_NAME).is_file()
