"""Building the offline model's image tower (``clip2nerf vlm prepare-offline``).

knn tower (default): read the split's views, store their thumbnails and caption embeddings;
no gradient steps (seconds). cnn tower: the training below.

Loss: CLIP's InfoNCE with a learnable temperature, image -> text. Because the text tower is
frozen, every training caption is embedded once and all of them serve as candidates for every
image (a full "memory bank" rather than only the captions in the batch), which gives many more
negatives per step at no cost. Only objects of one split (``train`` by default) are read; the
test split is refused so that held-out figures stay honest.

Resumable: a work folder beside the output (``.<out>.train-<hash>``) holds a checkpoint written
atomically after every epoch; re-running the same command continues from it. The finished model
is moved into place atomically (``config.json`` present = complete).
"""

from __future__ import annotations

import hashlib
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.classes import ZERO_SHOT_TEMPLATE
from clip2nerf.errors import UserError
from clip2nerf.utils.checkpoint import seeded
from clip2nerf.utils.train_loop import TrainLoop, adamw_one_cycle
from clip2nerf.vlm.offline import (
    OFFLINE_FAMILY,
    OfflineVLM,
    OfflineVLMConfig,
    build_image_encoder,
    read_offline_config,
    save_offline,
    training_fingerprint,
)
from clip2nerf.vlm.preprocess import composite_on_white, resize_square


@dataclass
class OfflineTrainConfig:
    """How the image tower is built. The knn tower uses only ``split`` and ``val_split``; the
    rest drives the CNN's training."""

    epochs: int = 30
    """Passes over the training objects (``views_per_epoch`` views of each per pass)."""
    views_per_epoch: int | None = 12
    """Random views per object per epoch (neighbouring views are near-duplicates, so a subset
    per epoch with more epochs beats all views with fewer); None = all views."""
    batch_size: int = 128
    lr: float = 3e-3
    """Peak learning rate of the one-cycle schedule (AdamW)."""
    weight_decay: float = 1e-4
    seed: int = 0
    split: str = "train"
    """Dataset split to train on; ``test`` is refused."""
    hflip: bool = True
    """Mirror views at random (objects are near-symmetric; doubles the viewpoints)."""
    scale_range: tuple[float, float] = (0.8, 1.15)
    """Random zoom: <1 crops in, >1 zooms out (padding with the border colour)."""
    max_shift: float = 0.1
    """Random translation, as a fraction of the image size."""
    brightness: float = 0.1
    """Random brightness/contrast change (kept small: captions name colours)."""
    blur_prob: float = 0.3
    """Chance of a 2x down/up-sample blur (renders of fitted NeRFs are softer than GT views)."""
    soft_weight: float = 0.5
    """Share of each image's target spread over *other* captions by their text similarity
    (softmax with ``soft_temperature``): captions of the same class are near-positives, so the
    image tower learns what objects of a class share rather than only telling objects apart."""
    soft_temperature: float = 0.05
    val_split: str | None = "val"
    """Split for the per-epoch zero-shot check (skipped when the dataset has none)."""
    extra_views: str | None = None
    """An augmented dataset of training objects (``clip2nerf augment photo --split train``):
    its images join the training views, each with its object's caption, so that the tower
    also learns objects over real photographs (a robust tower; knn: they join the memory)."""
    photo_backgrounds: float = 0.0
    """cnn: chance that a drawn training view is recomposed over a training photo at that step
    (``vlm/photo_train.py``); 0 = views on white only."""


def _rgb_views(obj, size: int) -> np.ndarray:
    """(n_views, size, size, 3) uint8 views of one object, composited on white."""
    return np.stack([resize_square(composite_on_white(obj.load_view(i)), size)
                     for i in range(obj.n_views)])


def load_split_views(dataset, split: str | None, size: int, progress: bool = True,
                     need_captions: bool = True
                     ) -> tuple[list[str], list[str], list[str], np.ndarray, np.ndarray]:
    """All views of a split: (ids, classes, captions, views (n, S, S, 3) uint8, owner (n,))."""
    from tqdm import tqdm

    ids, classes, captions, views, owner = [], [], [], [], []
    for obj in tqdm(dataset.iter_objects(split), total=len(dataset.object_ids(split)),
                    desc=f"reading {split} views", disable=not progress, leave=False):
        if need_captions and not obj.caption:
            raise UserError(f"object {obj.object_id}: meta.json has no caption; the offline VLM "
                            "trains on captions")
        v = _rgb_views(obj, size)
        owner.append(np.full(len(v), len(ids), dtype=np.int64))
        ids.append(obj.object_id)
        classes.append(obj.class_name)
        captions.append(obj.caption)
        views.append(v)
    if not ids:
        raise UserError(f"{dataset.root}: split {split!r} holds no objects")
    return ids, classes, captions, np.concatenate(views), np.concatenate(owner)


def augment(x, cfg: OfflineTrainConfig, gen):
    """Random flip/zoom/shift (one affine warp), brightness/contrast, blur.

    x: (b, 3, S, S) float in [0, 1] -> same shape.
    """
    import torch
    import torch.nn.functional as F

    b = x.shape[0]

    def rand(*shape):
        return torch.rand(*shape, generator=gen)

    lo, hi = cfg.scale_range
    scale = lo + (hi - lo) * rand(b)
    flip = torch.where(rand(b) < 0.5, -1.0, 1.0) if cfg.hflip else torch.ones(b)
    shift = (rand(b, 2) * 2 - 1) * 2 * cfg.max_shift
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = scale * flip
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if cfg.brightness > 0:
        gain = 1 + (rand(b, 1, 1, 1) * 2 - 1) * cfg.brightness
        contrast = 1 + (rand(b, 1, 1, 1) * 2 - 1) * cfg.brightness
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * contrast + mean) * gain
    if cfg.blur_prob > 0:
        blur = rand(b) < cfg.blur_prob
        if bool(blur.any()):
            small = F.avg_pool2d(x[blur], 2)
            x[blur] = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return x.clamp(0, 1)


def _to_input(views_u8, cfg: OfflineVLMConfig):
    """(b, S, S, 3) uint8 tensor -> (b, 3, S, S) float in [0, 1]."""
    return views_u8.permute(0, 3, 1, 2).float() / 255.0


def _normalise(x, cfg: OfflineVLMConfig):
    import torch

    m = torch.tensor(cfg.image_mean).view(1, 3, 1, 1)
    s = torch.tensor(cfg.image_std).view(1, 3, 1, 1)
    return (x - m.to(x.device)) / s.to(x.device)


def _ids_hash(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def zero_shot_accuracy(image_emb: np.ndarray, labels: list[str], prompt_emb: np.ndarray,
                       classes: list[str]) -> float:
    """Fraction of rows of ``image_emb`` (n, d) whose nearest prompt (c, d) is their class."""
    pred = np.argmax(image_emb @ prompt_emb.T, axis=1)
    return float(np.mean([classes[p] == lab for p, lab in zip(pred, labels, strict=True)]))


def prepare_offline(data: str | Path, out: str | Path,
                    model_cfg: OfflineVLMConfig | None = None,
                    train_cfg: OfflineTrainConfig | None = None,
                    device: str = "auto", overwrite: bool = False, progress: bool = True,
                    log: Callable[[str], None] = print) -> OfflineVLM:
    """Train the offline model on ``data`` (one split) and save it to ``out``; resumable.

    Returns the trained model. A finished folder with the same training record is reused;
    one holding another model needs ``overwrite``.
    """
    import torch

    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.utils.device import resolve_device
    from clip2nerf.utils.io import atomic_write_json
    from clip2nerf.vlm.text_tower import MiniLMTextTower

    mcfg = model_cfg or OfflineVLMConfig()
    tcfg = train_cfg or OfflineTrainConfig()
    _check_settings(mcfg, tcfg)
    dev = resolve_device(device)
    ds = open_dataset(data)
    ids = ds.object_ids(tcfg.split)
    extra_ds, record, fp = _training_record(ds, data, ids, mcfg, tcfg)
    name = f"{OFFLINE_FAMILY.format(tower=mcfg.image_tower)}@{fp}"
    out = Path(out).expanduser()
    if (out / "config.json").exists():
        existing = read_offline_config(out)
        if existing.name == name and not overwrite:
            log(f"{out} already holds {name}; nothing to do (pass --overwrite to retrain)")
            return OfflineVLM.from_pretrained(out, device=str(dev))
        if not overwrite:
            raise UserError(f"{out} already holds another offline model ({existing.name}); "
                            "pass --overwrite to replace it, or choose another --out")
    work = out.parent / f".{out.name}.train-{fp}"
    t0 = time.time()
    captions, views, owner = _training_views(ds, data, ids, extra_ds, work, mcfg, tcfg,
                                             progress)
    atomic_write_json(work / "record.json", record)
    log(f"training on {len(ids)} {tcfg.split} objects, {len(views)} views "
        f"({time.time() - t0:.1f}s to read)")

    # Frozen text tower: every caption and the zero-shot prompts embedded once.
    text = MiniLMTextTower(device=str(dev))
    uniq = sorted(set(captions))
    caption_idx = np.array([uniq.index(c) for c in captions], dtype=np.int64)
    bank = torch.from_numpy(text.encode(uniq)).to(dev)  # (n_texts, d)
    val = _val_set(ds, tcfg, mcfg, progress)
    prompts = text.encode([ZERO_SHOT_TEMPLATE.format(c) for c in ds.classes]) if val else None

    if mcfg.image_tower == "knn":
        return _finish_knn(ds, out, work, name, record, mcfg, tcfg, views, owner, captions,
                           text, val, prompts, dev, log)
    encoder, history = _train_cnn(ds, ids, work / "checkpoint.pt", name, mcfg, tcfg, views,
                                  owner, caption_idx[owner], bank, val, prompts, dev, progress,
                                  log)
    record["history"] = history
    record["train_seconds_last_run"] = round(time.time() - t0, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    from clip2nerf.utils.io import atomic_dir

    with atomic_dir(out, overwrite=True) as tmp:
        save_offline(tmp, mcfg, encoder, name, record)
    shutil.rmtree(work, ignore_errors=True)
    last = history[-1] if history else {}
    log(f"wrote {out} ({name}); " + ", ".join(f"{k}={v:.3f}" for k, v in last.items()
                                               if k != "epoch"))
    model = OfflineVLM(mcfg, encoder, name, record, device=str(dev))
    model._text = text
    return model


def _check_settings(mcfg: OfflineVLMConfig, tcfg: OfflineTrainConfig) -> None:
    if tcfg.split == "test":
        raise UserError("--split test: the offline VLM must not see test objects "
                        "(held-out figures are measured on them); train on train or val")
    if tcfg.epochs < 1 or tcfg.batch_size < 2:
        raise UserError("--epochs must be >= 1 and --batch-size >= 2")
    if not (math.isfinite(tcfg.lr) and tcfg.lr > 0):
        raise UserError(f"--lr {tcfg.lr}: must be a finite number > 0")
    if not 0.0 <= tcfg.photo_backgrounds <= 1.0:
        raise UserError(f"--photo-backgrounds {tcfg.photo_backgrounds}: must be in [0, 1]")
    if tcfg.photo_backgrounds and mcfg.image_tower != "cnn":
        raise UserError("--photo-backgrounds trains the cnn tower; add --image-tower cnn")


def _training_record(ds, data: str | Path, ids: list[str], mcfg: OfflineVLMConfig,
                     tcfg: OfflineTrainConfig) -> tuple[Any, dict[str, Any], str]:
    """(the extra views' dataset or None, the training record saved with the model, its
    fingerprint naming the model)."""
    extra_ds, extra_desc = _extra_views_dataset(tcfg, ids)
    record: dict[str, Any] = {
        "dataset": {"name": ds.name, "path": str(Path(data).resolve()), "split": tcfg.split,
                    "n_objects": len(ids), "object_ids_sha256": _ids_hash(ids),
                    "classes": ds.classes, "object_ids": ids},
        "model": asdict(mcfg),
        "train": {**_train_record(tcfg), "extra_views": extra_desc},
    }
    if extra_ds is not None:
        record["dataset"]["extra_views_path"] = str(Path(tcfg.extra_views).resolve())
    # Paths are informative only: the same data elsewhere gives the same model name.
    fp = training_fingerprint({k: v for k, v in record.items() if k != "dataset"}
                              | {"data": {k: v for k, v in record["dataset"].items()
                                          if k not in ("path", "extra_views_path")}})
    return extra_ds, record, fp


def _training_views(ds, data, ids: list[str], extra_ds, work: Path, mcfg: OfflineVLMConfig,
                    tcfg: OfflineTrainConfig, progress: bool
                    ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(captions, views, owner) of the training objects, cached in ``work``."""
    from clip2nerf.utils.io import atomic_path

    cache = work / "views.npz"
    views = None
    if cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                views, owner = z["views"], z["owner"]
        except (OSError, ValueError, KeyError, EOFError):
            views = None  # a damaged cache of our own: read the views again
            cache.unlink(missing_ok=True)
    if views is not None:
        return _read_labels(ds, ids)[2], views, owner
    ids_, _, captions, views, owner = load_split_views(ds, tcfg.split, mcfg.image_size, progress)
    if ids_ != ids:
        raise UserError(f"{data}: the {tcfg.split} split lists {len(ids)} objects but "
                        f"{len(ids_)} were read (in another order or changed while "
                        "reading?); check the dataset's splits/ and rerun")
    if extra_ds is not None:
        views, owner = _add_extra_views(extra_ds, ids, views, owner, mcfg.image_size, progress)
    # The work folder appears only once the views have been read (bad data leaves none).
    work.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, views=views, owner=owner)
    return captions, views, owner


def _train_cnn(ds, ids, ckpt: Path, name: str, mcfg: OfflineVLMConfig, tcfg: OfflineTrainConfig,
               views: np.ndarray, owner: np.ndarray, view_caption: np.ndarray, bank,
               val: dict[str, Any] | None, prompts: np.ndarray | None, dev, progress: bool,
               log: Callable[[str], None]):
    """Train the cnn tower (resuming from ``ckpt``): (encoder in eval mode, history)."""
    import torch
    import torch.nn.functional as F

    with seeded(tcfg.seed):  # seeded init without touching the caller's global RNG state
        encoder = build_image_encoder(mcfg).to(dev)
    n_obj = int(owner.max()) + 1
    # Views of object o are the contiguous rows first[o] : first[o] + count[o].
    count = np.bincount(owner, minlength=n_obj)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    per_obj = min(tcfg.views_per_epoch or int(count.max()), int(count.min()))
    steps_per_epoch = int(np.ceil(n_obj * per_obj / tcfg.batch_size))
    opt, sched = adamw_one_cycle(encoder.parameters(), tcfg.lr, tcfg.weight_decay,
                                 tcfg.epochs * steps_per_epoch, pct_start=0.15)
    settings = (f"--lr {tcfg.lr:g}, weight decay {tcfg.weight_decay:g}, --batch-size "
                f"{tcfg.batch_size}")
    loop = TrainLoop(encoder, opt, sched, tcfg.epochs, settings, checkpoint=ckpt,
                     config={"name": name}, what="offline VLM training", map_location=dev,
                     desc="prepare-offline", progress=progress)
    # Checkpoints of before the shared format hold no config: accepted (the folder is named
    # after the run's fingerprint).
    if loop.resume(lambda c: c.config is None or c.same_config({"name": name}),
                   f"{ckpt} holds a run with other settings; delete {ckpt.parent} to start over"):
        log(f"resuming from epoch {loop.start_epoch}/{tcfg.epochs} ({ckpt})")
    views_t = torch.from_numpy(views)  # (n, S, S, 3) uint8, stays on CPU
    backgrounds = _photo_backgrounds(ds, ids, first, len(views), mcfg, tcfg)
    target_t = torch.from_numpy(view_caption)
    targets = soft_targets(bank, tcfg.soft_weight, tcfg.soft_temperature)  # (n_texts, n_texts)

    def train_epoch(epoch: int) -> dict[str, float]:
        gen = torch.Generator().manual_seed(tcfg.seed * 100003 + epoch)
        perm = _epoch_rows(first, count, per_obj, gen)
        tot_loss, tot_hit, n_seen = 0.0, 0, 0
        for s in range(steps_per_epoch):
            idx = perm[s * tcfg.batch_size:(s + 1) * tcfg.batch_size]
            if len(idx) < 2:
                continue
            batch = views_t[idx] if backgrounds is None else \
                backgrounds.apply(views_t[idx], idx, gen)
            x = _normalise(augment(_to_input(batch, mcfg), tcfg, gen), mcfg).to(dev)
            y = target_t[idx].to(dev)
            emb = F.normalize(encoder(x), dim=-1)
            logits = encoder.logit_scale.clamp(max=np.log(100.0)).exp() * emb @ bank.T
            tot_loss += loop.step(F.cross_entropy(logits, targets[y])) * len(idx)
            tot_hit += int((logits.argmax(1) == y).sum())
            n_seen += len(idx)
        return {"loss": tot_loss / n_seen, "caption_acc": tot_hit / n_seen,
                "temperature": float(1.0 / encoder.logit_scale.detach().exp())}

    def evaluate(epoch: int) -> dict[str, float] | None:
        if not val:
            return None
        encoder.eval()
        return {f"{tcfg.val_split}_zero_shot_acc": zero_shot_accuracy(
            _embed(encoder, val["views"], mcfg, dev), val["labels"], prompts, ds.classes)}

    history = loop.run(train_epoch, evaluate, postfix=lambda row: {
        k: round(v, 3) for k, v in row.items() if k != "epoch"})
    return encoder, history


def _finish_knn(ds, out, work, name, record, mcfg, tcfg, views, owner, captions, text, val,
                prompts, dev, log) -> OfflineVLM:
    """knn tower: fill the memory with every training view and its caption embedding."""
    import dataclasses

    import torch

    from clip2nerf.utils.io import atomic_dir

    mcfg = dataclasses.replace(mcfg, bank_size=len(views))
    tower = build_image_encoder(mcfg).to(dev)
    feats = []
    with torch.inference_mode():
        for i in range(0, len(views), 512):
            x = _normalise(_to_input(torch.from_numpy(views[i:i + 512]), mcfg), mcfg).to(dev)
            feats.append(tower.features(x))
        tower.bank_features.copy_(torch.cat(feats))
        cap = torch.from_numpy(text.encode(captions)).to(dev)  # (n_objects, d)
        tower.bank_text.copy_(cap[torch.from_numpy(owner).to(dev)])
        tower.bank_object.copy_(torch.from_numpy(owner).to(dev))
    tower.eval()
    row: dict[str, float] = {"epoch": 0}
    if val:
        row[f"{tcfg.val_split}_zero_shot_acc"] = zero_shot_accuracy(
            _embed(tower, val["views"], mcfg, dev), val["labels"], prompts, ds.classes)
    record["model"] = dataclasses.asdict(mcfg)
    record["history"] = [row]
    with atomic_dir(out, overwrite=True) as tmp:
        save_offline(tmp, mcfg, tower, name, record)
    shutil.rmtree(work, ignore_errors=True)
    log(f"wrote {out} ({name}); knn memory of {len(views)} views"
        + "".join(f", {k}={v:.3f}" for k, v in row.items() if k != "epoch"))
    model = OfflineVLM(mcfg, tower, name, record, device=str(dev))
    model._text = text
    return model


def _extra_views_dataset(tcfg: OfflineTrainConfig, ids: list[str]):
    """(dataset, description) of ``tcfg.extra_views``; refused unless it holds augmented
    images of training objects only, made on the training photos."""
    if tcfg.extra_views is None:
        return None, None
    import json

    from clip2nerf.data.layouts import open_dataset

    ds = open_dataset(tcfg.extra_views)
    aug = ds.info.get("augment") or {}
    if aug.get("pool", "train") != "train" or aug.get("split", "train") != "train":
        raise UserError(f"--extra-views {tcfg.extra_views}: made from the {aug.get('split')} "
                        "split on held-out photos; only `augment ... --split train` output "
                        "may train the VLM")
    outside = sorted(set(ds.object_ids()) - set(ids))
    if outside:
        raise UserError(f"--extra-views {tcfg.extra_views}: {len(outside)} objects are not "
                        f"training objects (e.g. {outside[0]})")
    digest = hashlib.sha256(json.dumps(aug, sort_keys=True).encode()).hexdigest()[:16]
    return ds, {"name": ds.name, "augment_sha256": digest, "n_objects": len(ds.object_ids())}


def _add_extra_views(extra_ds, ids, views, owner, size, progress):
    """Append the augmented images (owner = their object's row in ``ids``), then order all
    rows by owner (training draws each object's views from one contiguous block)."""
    ids_x, _, _, views_x, owner_x = load_split_views(extra_ds, None, size, progress,
                                                     need_captions=False)
    where = {oid: k for k, oid in enumerate(ids)}
    owner_x = np.array([where[ids_x[o]] for o in owner_x], dtype=np.int64)
    views = np.concatenate([views, views_x])
    owner = np.concatenate([owner, owner_x])
    order = np.argsort(owner, kind="stable")
    return views[order], owner[order]


def _train_record(tcfg: OfflineTrainConfig) -> dict[str, Any]:
    """The training config as recorded (and fingerprinted): ``photo_backgrounds`` only when
    used, so models trained without it keep their names."""
    rec = asdict(tcfg)
    if not rec.get("photo_backgrounds"):
        rec.pop("photo_backgrounds", None)
    return rec


def _photo_backgrounds(ds, ids, first, n_rows, mcfg: OfflineVLMConfig,
                       tcfg: OfflineTrainConfig):
    if not tcfg.photo_backgrounds:
        return None
    from clip2nerf.vlm.photo_train import PhotoBackgrounds

    return PhotoBackgrounds(ds, ids, first, n_rows, mcfg.image_size, tcfg.photo_backgrounds)


def soft_targets(bank, weight: float, temperature: float):
    """(n_texts, n_texts) rows of target probabilities: ``1 - weight`` on the caption itself,
    ``weight`` spread over all captions by softmax(text similarity / temperature)."""
    import torch

    n = len(bank)
    hard = torch.eye(n, device=bank.device)
    if weight <= 0:
        return hard
    soft = torch.softmax(bank @ bank.T / temperature, dim=1)
    return (1 - weight) * hard + weight * soft


def _epoch_rows(first: np.ndarray, count: np.ndarray, per_obj: int, gen):
    """Shuffled rows of ``per_obj`` random views of every object: (n_obj * per_obj,) int64."""
    import torch

    picks = [int(f) + torch.randperm(int(c), generator=gen)[:per_obj]
             for f, c in zip(first, count, strict=True)]
    rows = torch.cat(picks)
    return rows[torch.randperm(len(rows), generator=gen)]


def _read_labels(ds, ids: list[str]) -> tuple[list[str], list[str], list[str]]:
    objs = [ds.get(i) for i in ids]
    return ids, [o.class_name for o in objs], [o.caption or "" for o in objs]


def _val_set(ds, tcfg: OfflineTrainConfig, mcfg: OfflineVLMConfig, progress: bool
             ) -> dict[str, Any] | None:
    """Views and labels of the validation split, or None when there is none."""
    if not tcfg.val_split or tcfg.val_split == "test":
        return None
    if not (ds.root / "splits" / f"{tcfg.val_split}.txt").exists():
        return None
    if not ds.object_ids(tcfg.val_split):
        return None
    _, classes, _, views, owner = load_split_views(ds, tcfg.val_split, mcfg.image_size, progress)
    return {"views": views, "labels": [classes[o] for o in owner]}


def _embed(encoder, views: np.ndarray, mcfg: OfflineVLMConfig, dev, batch: int = 256) -> np.ndarray:
    """(n, S, S, 3) uint8 -> (n, d) unit rows, no augmentation."""
    import torch
    import torch.nn.functional as F

    out = []
    with torch.inference_mode():
        for i in range(0, len(views), batch):
            x = _normalise(_to_input(torch.from_numpy(views[i:i + batch]), mcfg), mcfg).to(dev)
            out.append(F.normalize(encoder(x), dim=-1).cpu().numpy())
    return np.concatenate(out).astype(np.float32)
