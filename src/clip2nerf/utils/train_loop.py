"""The one epoch loop of clip2nerf's trainers (nf2vec, the mappers, the offline VLM's CNN).

A trainer builds its model, an optimiser and a schedule (``adamw_one_cycle``), and a
``TrainLoop`` holding them; ``resume`` restores a checkpoint of the same settings, ``run``
trains the remaining epochs. The trainer supplies only what differs: the batches of one epoch
(``train_epoch``, which calls ``step`` once per batch), its evaluation, and the files written
beside each checkpoint. The loop owns the rest, the same for all three:

- resume: ``checkpoint.pt`` (``clip2nerf.utils.checkpoint``'s format, older ones included) is
  refused unless its settings match; model, optimiser, schedule, finished epochs, history and
  (``generator``) the sampling generator's state are restored; non-finite weights are refused;
- a progress bar over the epochs;
- finiteness: every step's loss, the weights after every epoch (before evaluating them) and
  after ``finish``; a diverged run stops with ``NonFiniteTrainingError`` and saves nothing;
- checkpoints: after an epoch when ``save_every_s`` seconds have passed since the last one (0:
  every epoch) and after the run's last epoch; an interruption between epochs (Ctrl-C, a
  callback raising) first saves the finished epochs not yet saved.

The loop draws no random numbers itself and calls the trainer's callbacks in a fixed order, so
a trainer moved onto it consumes its generators exactly as its own loop did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clip2nerf.errors import UserError
from clip2nerf.utils.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from clip2nerf.utils.training import (
    NonFiniteTrainingError,
    check_finite_loss,
    check_finite_weights,
    checkpoint_error,
)

Record = dict[str, Any]
"""One epoch's entry of the history (JSON-able)."""


def adamw_one_cycle(parameters: Any, lr: float, weight_decay: float, total_steps: int,
                    pct_start: float = 0.3) -> tuple[Any, Any]:
    """The optimiser and schedule every trainer uses: AdamW and a one-cycle LR schedule.

    Args:
        parameters: the parameters to optimise (``model.parameters()``).
        lr: peak learning rate of the schedule.
        weight_decay: AdamW's decoupled weight decay.
        total_steps: optimiser steps of the whole run (epochs x steps per epoch).
        pct_start: share of the steps spent raising the rate (torch's default 0.3).

    Returns:
        ``(optimizer, scheduler)``.
    """
    import torch

    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    if abs(pct_start * total_steps - 1.0) < 1e-6:
        # torch's warm-up phase would end on step 0 where it starts (0 / 0 in OneCycleLR, e.g.
        # nf2vec's 10% of 10 steps): a shorter one, so that step 0 opens the decay at the peak.
        pct_start *= 0.5
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr,
                                                    total_steps=total_steps, pct_start=pct_start)
    return optimizer, scheduler


@dataclass(eq=False)
class TrainLoop:
    """A resumable epoch loop around a model, its optimiser and its schedule.

    Args:
        model: the ``torch.nn.Module`` trained.
        optimizer: its optimiser (stepped by ``step``).
        scheduler: its LR schedule, stepped once per ``step``.
        epochs: epochs of the whole run (a resumed run continues up to it).
        settings: the settings named when training diverges (``"--lr 0.001, ..."``).
        checkpoint: ``checkpoint.pt`` to resume from and save to; None: neither.
        config: the run's settings saved with each checkpoint (JSON-able).
        what: the loop named in messages about its checkpoint (``"mapper"``).
        generator: a ``torch.Generator`` used across epochs, its state saved as ``rng`` and
            restored on resume; None when the trainer seeds one per epoch.
        map_location: where checkpoint tensors are loaded.
        save_every_s: least seconds between two checkpoints (0: after every epoch); the
            run's last epoch is always saved.
        desc: the progress bar's label.
        progress: show the progress bar.
    """

    model: Any
    optimizer: Any
    scheduler: Any
    epochs: int
    settings: str
    checkpoint: Path | None = None
    config: Any = None
    what: str = "training"
    generator: Any = None
    map_location: Any = "cpu"
    save_every_s: float = 0.0
    desc: str = "train"
    progress: bool = True
    history: list[Record] = field(default_factory=list, init=False)
    """The records of the finished epochs, the resumed ones included."""
    start_epoch: int = field(default=0, init=False)
    """Epochs finished before this run (restored by ``resume``)."""
    epoch: int = field(default=0, init=False)
    """The epoch being trained (0-based), for callbacks and messages."""
    epoch_started: float = field(default=0.0, init=False)
    """``time.perf_counter()`` when the current epoch began (callbacks time themselves)."""

    def resume(self, accepts: Callable[[Checkpoint], bool] | None = None,
               refused: str = "") -> bool:
        """Restore ``checkpoint`` when it exists; True when it did.

        Args:
            accepts: whether a loaded checkpoint belongs to this run (default: its saved
                config equals ``config``).
            refused: the ``UserError`` message when it does not.
        """
        if self.checkpoint is None or not Path(self.checkpoint).is_file():
            return False
        path = Path(self.checkpoint)
        ckpt = load_checkpoint(path, self.what, map_location=self.map_location)
        if not (accepts(ckpt) if accepts is not None else ckpt.same_config(self.config)):
            raise UserError(refused or f"{path} holds a run with other settings")
        ckpt.restore(self.model, self.optimizer, self.scheduler)
        if self.generator is not None:
            try:
                self.generator.set_state(ckpt.extra["rng"])
            except (KeyError, TypeError, ValueError, RuntimeError) as exc:
                raise checkpoint_error(path, exc) from None
        self.history, self.start_epoch = ckpt.history, ckpt.epoch
        check_finite_weights(self.model, f"in {path}", "the checkpoint's settings")
        return True

    def step(self, loss: Any) -> float:
        """One optimiser and schedule step on ``loss`` (a scalar tensor); its value, checked
        finite."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        value = float(loss.detach())
        check_finite_loss(value, f"at epoch {self.epoch + 1}", self.settings)
        return value

    def save(self, epochs_done: int) -> None:
        """Write the checkpoint after ``epochs_done`` epochs (nothing without ``checkpoint``)."""
        if self.checkpoint is None:
            return
        extra = {} if self.generator is None else {"rng": self.generator.get_state()}
        save_checkpoint(self.checkpoint, epoch=epochs_done, model=self.model,
                    optimizer=self.optimizer, scheduler=self.scheduler, history=self.history,
                    config=self.config, **extra)

    def run(self, train_epoch: Callable[[int], Record],
            evaluate: Callable[[int], Record | None] | None = None, *,
            finish: Callable[[], None] | None = None,
            on_save: Callable[[int], None] | None = None,
            after_epoch: Callable[[Record], None] | None = None,
            postfix: Callable[[Record], dict[str, Any]] | None = None,
            stop_after: int | None = None) -> list[Record]:
        """Train the epochs after ``start_epoch``; the history of all finished epochs.

        Per epoch: ``model.train()``, ``train_epoch``, the weights checked, ``evaluate``,
        (the run's final epoch) ``finish`` and the weights checked again, the record appended,
        the checkpoint and ``on_save`` when due, ``after_epoch``. The model ends in eval mode.

        Args:
            train_epoch: trains epoch ``e`` (0-based; calls ``step`` per batch) and returns its
                record's fields after ``epoch`` (its mean loss, ...), in their order.
            evaluate: the fields evaluation adds to epoch ``e``'s record (a key already there
                keeps its place), or None.
            finish: called after the final epoch's evaluation, before it is saved (a last
                change to the model).
            on_save: files written beside each checkpoint, given the epochs done.
            after_epoch: called with each finished epoch's record, once it is saved.
            postfix: the progress bar's figures from a record.
            stop_after: end this run after that many epochs (a later run resumes).
        """
        from tqdm.auto import tqdm

        last = self.epochs if stop_after is None else min(self.epochs,
                                                          self.start_epoch + stop_after)
        bar = tqdm(range(self.start_epoch, last), desc=self.desc, unit="epoch",
                   disable=not self.progress, initial=self.start_epoch, total=self.epochs)
        saved, last_save, complete = self.start_epoch, time.perf_counter(), True
        try:
            for self.epoch in bar:
                complete = False
                done = self.epoch + 1
                self.epoch_started = time.perf_counter()
                self.model.train()
                record: Record = {"epoch": done, **train_epoch(self.epoch)}
                check_finite_weights(self.model, f"after epoch {done}", self.settings)
                record.update((evaluate(self.epoch) if evaluate is not None else None) or {})
                if finish is not None and done == self.epochs:
                    finish()
                    check_finite_weights(self.model, f"after epoch {done}", self.settings)
                self.history.append(record)
                complete = True
                if postfix is not None:
                    bar.set_postfix(postfix(record))
                if done == last or time.perf_counter() - last_save >= self.save_every_s:
                    self._save_all(done, on_save)
                    saved, last_save = done, time.perf_counter()
                if after_epoch is not None:
                    after_epoch(record)
        except NonFiniteTrainingError:
            raise  # nothing of a diverged run is saved
        except BaseException:
            # Interrupted between epochs: keep the finished ones.
            if complete and self.history and self.history[-1]["epoch"] > saved:
                self._save_all(self.history[-1]["epoch"], on_save)
            raise
        bar.close()
        self.model.eval()
        return self.history

    def _save_all(self, epochs_done: int, on_save: Callable[[int], None] | None) -> None:
        if self.checkpoint is None:
            return
        self.save(epochs_done)
        if on_save is not None:
            on_save(epochs_done)


__all__ = ["Record", "TrainLoop", "adamw_one_cycle"]
