"""End-to-end training of the nf2vec encoder and decoder on fitted NeRFs.

The decoder, conditioned on the encoder's embedding of a NeRF's weights, learns to reproduce
that NeRF. Two losses (``TrainConfig.loss``):

- ``distill`` (default, cheap): at points sampled in and around the NeRF's occupied cells,
  match its density (as ``log(1 + sigma)``, capped) everywhere and its colour where it has
  matter, foreground points weighted ``fg_weight`` and empty ones ``bg_weight``; the NeRF's
  density counts as 0 outside its occupancy grid, as when it is rendered.
- ``render`` (nf2vec's): volume-render random rays of orbit cameras through both fields (the
  NeRF's occupancy grid skips empty space for both) and match the pixels, foreground pixels
  weighted ``fg_weight``, background ones ``bg_weight``.

Every epoch writes the model (``save_pretrained``), ``checkpoint.pt`` (model, AdamW and
schedule state, sampling RNG, history; ``clip2nerf.utils.checkpoint``'s format) and
``history.json`` (loss, validation PSNR and seconds per epoch); a rerun resumes after the last
finished epoch. The last epoch also sets the embedding centre (the training NeRFs' mean
direction, see ``clip2nerf.nf2vec.decoder``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from clip2nerf.errors import UserError
from clip2nerf.nerf.occupancy import OccupancyGrid
from clip2nerf.nerf.rays import default_intrinsics, rays_from_camera
from clip2nerf.nerf.render import render_rays
from clip2nerf.nf2vec.augment import augment_matrices
from clip2nerf.nf2vec.config import Nf2vecConfig, TrainConfig
from clip2nerf.nf2vec.embed import embed_matrices
from clip2nerf.nf2vec.model import CONFIG_NAME, Nf2vec
from clip2nerf.nf2vec.nerfs import (
    NerfSet,
    batched_nerf_forward,
    find_nerf_files,
    load_nerf_set,
    occupied_mask,
    sample_points,
)
from clip2nerf.nf2vec.views import psnr, render_embedding, render_field_views, view_poses
from clip2nerf.utils.checkpoint import seeded
from clip2nerf.utils.io import atomic_write_json, read_json
from clip2nerf.utils.train_loop import TrainLoop, adamw_one_cycle

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"


def distill_loss(model: Nf2vec, matrices: torch.Tensor, points: torch.Tensor,
                 cfg: TrainConfig, occupied: torch.Tensor | None = None,
                 encoder_input: torch.Tensor | None = None) -> torch.Tensor:
    """Field-distillation loss of one batch.

    Args:
        matrices: (batch, rows, hidden) NeRF weight matrices.
        points: (batch, n, 3) sample points.
        occupied: (batch, n) bool, whether each point is in an occupied cell of its NeRF's
            grid; the NeRF's density counts as 0 elsewhere (as when it is rendered).
        encoder_input: what the encoder reads instead of ``matrices`` (weight-space
            augmentation, ``clip2nerf.nf2vec.augment``); the targets stay ``matrices``.
    Returns:
        () weighted MSE of ``log(1 + sigma)`` (capped at ``sigma_max``) plus colour (colour only
        where the NeRF has matter).
    """
    with torch.no_grad():
        rgb_t, sigma_t = batched_nerf_forward(matrices, points, model.config.nerf)
        if occupied is not None:
            sigma_t = sigma_t * occupied
        fg = (1 - torch.exp(-sigma_t * cfg.alpha_step)) > cfg.fg_alpha
        w = torch.where(fg, cfg.fg_weight, cfg.bg_weight)
        cap = math.log1p(cfg.sigma_max)
        target = torch.log1p(sigma_t).clamp(max=cap)
    enc_in = matrices if encoder_input is None else encoder_input
    cond = model.decoder.condition(model.encoder(enc_in), centered=False)
    raw = model.decoder.raw(cond, points)
    # log(1 + sigma) with sigma = exp(x + bias) is softplus(x + bias): smooth, and faint fog
    # (sigma ~ 0.3 everywhere, invisible in opacity at one step yet grey over a whole ray)
    # still costs as much as it shows; above sigma_max a point is opaque enough.
    log_sigma = nn.functional.softplus(raw[..., 3] + model.config.nerf.density_bias).clamp(max=cap)
    loss_density = (w * (log_sigma - target) ** 2).mean()
    rgb_err = ((torch.sigmoid(raw[..., :3]) - rgb_t) ** 2).mean(-1)
    loss_rgb = (w * fg * rgb_err).sum() / (w * fg).sum().clamp(min=1.0)
    return loss_density + cfg.rgb_weight * loss_rgb


def _random_rays(n_rays: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_rays, 3) origins and directions through random pixels of a random orbit camera."""
    from clip2nerf.camera import look_at, orbit_eye
    from clip2nerf.nf2vec.views import CAMERA_RADIUS

    az, el = (torch.rand(2, generator=generator) * torch.tensor([2 * math.pi, 1.2]) -
              torch.tensor([0.0, 0.3])).tolist()
    eye = orbit_eye(CAMERA_RADIUS, az, el)
    res = 64
    o, d = rays_from_camera(default_intrinsics(res), look_at(eye))
    pick = torch.randint(res * res, (n_rays,), generator=generator)
    return o[pick], d[pick]


def render_loss(model: Nf2vec, nerfs: NerfSet, rows: list[int], matrices: torch.Tensor,
                cfg: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """nf2vec's rendering loss: pixels of the decoder vs pixels of the NeRF, fg/bg weighted."""
    config = model.config.nerf
    lo, hi = config.aabb
    aabb = torch.tensor([*lo, *hi], dtype=torch.float32, device=matrices.device)
    n_samples = max(16, int(round(math.sqrt(3) * 1.4 / cfg.alpha_step)))
    n_rays = max(8, cfg.n_points // 32)
    cond = model.decoder.condition(model.encoder(matrices), centered=False)
    losses = []
    for b, i in enumerate(rows):
        r = nerfs.grid_resolution[i]
        occ = None
        if r:
            grid = torch.zeros(r**3, dtype=torch.bool)
            grid[nerfs.occupied[i].long()] = True
            occ = OccupancyGrid(grid.reshape(r, r, r), aabb.cpu()).to(matrices.device)
        o, d = (t.to(matrices.device) for t in _random_rays(n_rays, generator))
        mat = matrices[b:b + 1]

        def teacher(x: torch.Tensor, mat=mat) -> tuple[torch.Tensor, torch.Tensor]:
            rgb, s = batched_nerf_forward(mat, x[None], config)
            return rgb[0], s[0]

        def student(x: torch.Tensor, b=b) -> tuple[torch.Tensor, torch.Tensor]:
            c = cond.select(slice(b, b + 1))
            rgb, s = model.decoder.query(c, x[None])
            return rgb[0], s[0]

        with torch.no_grad():
            t_out = render_rays(teacher, o, d, aabb, occ, n_samples=n_samples, chunk_samples=None)
        s_out = render_rays(student, o, d, aabb, occ, n_samples=n_samples, chunk_samples=None,
                            early_stop_eps=0.0)
        w = torch.where(t_out["opacity"] > 0.5, cfg.fg_weight, cfg.bg_weight)
        losses.append((w * ((s_out["rgb"] - t_out["rgb"]) ** 2).mean(-1)).mean())
    return torch.stack(losses).mean()


class _Validator:
    """Renders the val NeRFs once, then scores the decoder's renders of their embeddings."""

    def __init__(self, nerfs: NerfSet, cfg: TrainConfig, device: torch.device):
        self.nerfs = nerfs
        self.cfg = cfg
        self.device = device
        self.poses = view_poses(cfg.val_views)
        config = nerfs.config
        lo, hi = config.aabb
        self.aabb = torch.tensor([*lo, *hi], dtype=torch.float32)
        self.targets = []
        for i in range(len(nerfs)):
            mat = nerfs.matrices[i:i + 1].to(device)

            def field(x: torch.Tensor, mat=mat) -> tuple[torch.Tensor, torch.Tensor]:
                rgb, s = batched_nerf_forward(mat, x[None], config)
                return rgb[0], s[0]

            occ = None
            r = nerfs.grid_resolution[i]
            if r:
                grid = torch.zeros(r**3, dtype=torch.bool)
                grid[nerfs.occupied[i].long()] = True
                occ = OccupancyGrid(grid.reshape(r, r, r), self.aabb)
            self.targets.append(render_field_views(field, self.aabb, self.poses,
                                                   cfg.val_resolution, occ, device=device))

    @torch.no_grad()
    def __call__(self, model: Nf2vec) -> float | None:
        if not len(self.nerfs):
            return None
        model.eval()
        emb = model.embed(self.nerfs.matrices.to(self.device))
        scores = [psnr(render_embedding(model.decoder, emb[i], self.poses, self.cfg.val_resolution,
                                        grid_resolution=self.cfg.val_grid_resolution),
                       self.targets[i]) for i in range(len(self.nerfs))]
        return float(np.mean(scores))


def same_configs(saved: Any, model_config: Nf2vecConfig, cfg: TrainConfig) -> bool:
    """Compare as configs, not raw dicts: fields added later take their defaults."""
    try:
        return (Nf2vecConfig.from_dict(saved["model"]) == model_config
                and TrainConfig.from_dict(saved["train"]) == cfg)
    except (KeyError, TypeError, ValueError):
        return False


def _saved_name(out_dir: Path) -> str:
    try:
        saved = read_json(out_dir / CONFIG_NAME)
    except UserError:
        return "?"
    return str(saved.get("name", "?")) if isinstance(saved, dict) else "?"


def _check_settings(cfg: TrainConfig, stop_after: int | None) -> None:
    if stop_after is not None and stop_after < 1:
        raise UserError(f"--stop-after {stop_after}: must be at least 1 (epochs of this run)")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise UserError(f"--lr {cfg.lr}: must be a finite number > 0")
    if cfg.loss != "distill" and (cfg.weight_noise or cfg.permute_units):
        raise UserError("weight_noise / permute_units augment the distill loss only; the render "
                        "loss would ignore them (set loss to 'distill' or turn them off)")


def _train_epoch(loop: TrainLoop, train_set: NerfSet, cfg: TrainConfig,
                 device: torch.device) -> dict[str, Any]:
    """One epoch of batches drawn with ``loop.generator``: the record's training fields."""
    model, generator = loop.model, loop.generator
    steps_per_epoch = max(1, len(train_set) // cfg.batch_size)
    order = torch.randperm(len(train_set), generator=generator).tolist()
    losses = []
    for s in range(steps_per_epoch):
        rows = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
        matrices = train_set.matrices[rows].to(device)
        if cfg.loss == "distill":
            pts = sample_points(train_set, rows, cfg.n_points, cfg.occupied_fraction,
                                generator).to(device)
            occ = occupied_mask(train_set, rows, pts)
            enc_in = None
            if cfg.weight_noise > 0 or cfg.permute_units:
                enc_in = augment_matrices(matrices, model.config.nerf, cfg.weight_noise,
                                          cfg.permute_units, generator)
            loss = distill_loss(model, matrices, pts, cfg, occ, enc_in)
        else:
            loss = render_loss(model, train_set, rows, matrices, cfg, generator)
        losses.append(loop.step(loss))
    # val_psnr is filled in by the validation; its place here keeps the record's key order.
    return {"loss": float(np.mean(losses)), "val_psnr": None,
            "seconds": round(time.perf_counter() - loop.epoch_started, 3),
            "lr": loop.scheduler.get_last_lr()[0]}


def _train_and_val(nerfs: str | Path | NerfSet, model_config: Nf2vecConfig, cfg: TrainConfig,
                   progress: bool, splits: dict[str, str] | None) -> tuple[NerfSet, NerfSet]:
    """The train split and the first ``max_val_nerfs`` of val; from a folder only those two
    are loaded (the whole set would not fit at the paper's scale)."""
    if isinstance(nerfs, NerfSet):
        train_set, val_set, n_all = nerfs.split("train"), nerfs.split("val"), len(nerfs)
    else:
        train_set = load_nerf_set(nerfs, model_config.nerf, progress, splits=splits,
                                  keep_splits={"train"})
        val_set = load_nerf_set(nerfs, model_config.nerf, False, splits=splits,
                                keep_splits={"val"})
        n_all = len(find_nerf_files(nerfs))
    if len(train_set) < 2:
        raise UserError(f"--nerfs: need at least 2 NeRFs in the train split, found "
                        f"{len(train_set)} (of {n_all})")
    return train_set, val_set.select(list(range(min(len(val_set), cfg.max_val_nerfs))))


def train_nf2vec(nerfs: str | Path | NerfSet, out_dir: str | Path, model_config: Nf2vecConfig,
                 train_config: TrainConfig, device: torch.device | str = "cpu",
                 progress: bool = True, log: Callable[[str], None] | None = None,
                 stop_after: int | None = None,
                 splits: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Train (or resume training) an nf2vec model into ``out_dir``.

    Args:
        nerfs: a folder of NeRF files (or a loaded ``NerfSet``); the ``train`` split trains,
            the first ``max_val_nerfs`` of ``val`` validate. From a folder only those are
            kept in memory (~100 kB a NeRF), not the whole set.
        out_dir: model folder; holds a loadable model after every epoch.
        model_config: the encoder and decoder to build.
        train_config: the loss, optimiser and validation settings.
        device: where to train.
        progress: show a progress bar.
        log: receives the resume and finish messages (default: stderr).
        stop_after: end this run after that many epochs (a later call resumes).
        splits: object id -> split for a folder (``nerfs.dataset_splits``), else the files'.

    Returns:
        The per-epoch history: ``epoch``, ``loss``, ``val_psnr``, ``seconds``, ``lr``.
    """
    log = log or (lambda s: print(s, file=sys.stderr))
    cfg = train_config
    _check_settings(cfg, stop_after)
    device = torch.device(device)
    out_dir = Path(out_dir)
    train_set, val_set = _train_and_val(nerfs, model_config, cfg, progress, splits)

    with seeded(cfg.seed):
        model = Nf2vec(model_config).to(device)
    steps_per_epoch = max(1, len(train_set) // cfg.batch_size)
    optimizer, scheduler = adamw_one_cycle(model.parameters(), cfg.lr, cfg.weight_decay,
                                           cfg.epochs * steps_per_epoch, pct_start=0.1)
    settings = (f"--lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}, batch size "
                f"{cfg.batch_size}, loss {cfg.loss}")
    config = {"model": model_config.to_dict(), "train": cfg.to_dict()}
    loop = TrainLoop(model, optimizer, scheduler, cfg.epochs, settings,
                     checkpoint=out_dir / CHECKPOINT_NAME, config=config, what="nf2vec training",
                     generator=torch.Generator().manual_seed(cfg.seed), desc="nf2vec train",
                     progress=progress)
    if loop.resume(lambda ckpt: same_configs(ckpt.config, model_config, cfg),
                   f"{out_dir} holds a run with another configuration ({_saved_name(out_dir)}); "
                   "use another --out, or the same preset and options to resume"):
        log(f"resuming {out_dir} after epoch {loop.start_epoch}/{cfg.epochs}")
    if loop.start_epoch >= cfg.epochs:
        log(f"{out_dir}: already trained for {cfg.epochs} epochs")
        return loop.history

    validator = _Validator(val_set, cfg, device)

    def evaluate(epoch: int) -> dict[str, Any]:
        due = (epoch + 1) % max(cfg.val_every, 1) == 0 or epoch + 1 == cfg.epochs
        return {"val_psnr": validator(model) if due else None}

    def finish() -> None:  # the embedding centre: the training NeRFs' mean direction
        model.decoder.set_center(embed_matrices(model, train_set.matrices, device=device,
                                                centered=False))

    def on_save(done: int) -> None:
        model.save_pretrained(out_dir)
        atomic_write_json(out_dir / HISTORY_NAME, {
            "model_config": model_config.to_dict(), "train_config": cfg.to_dict(),
            "n_train": len(train_set), "n_val": len(val_set), "device": str(device),
            "epochs": loop.history})

    return loop.run(lambda epoch: _train_epoch(loop, train_set, cfg, device), evaluate,
                    finish=finish, on_save=on_save, stop_after=stop_after,
                    postfix=lambda r: {"loss": f"{r['loss']:.4f}", "val_psnr": "-" if
                                       r["val_psnr"] is None else f"{r['val_psnr']:.2f}"})


__all__ = ["train_nf2vec", "distill_loss", "render_loss", "CHECKPOINT_NAME", "HISTORY_NAME"]
