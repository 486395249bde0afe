"""Guards every training loop shares: non-finite losses and weights, unreadable checkpoints.

A learning rate that is too high (or a weight decay that explodes) turns weights into NaN or
infinity; saving such a model would make every later embedding or label meaningless (a
classifier full of NaN even reports perfect accuracy). Training stops with a UserError that
names the setting to change, before anything non-finite is written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from clip2nerf.errors import UserError


class NonFiniteTrainingError(UserError):
    """Training diverged (NaN/inf loss or weights); the message names the settings to change."""


def check_finite_loss(value: float, where: str, settings: str) -> None:
    """Raise unless ``value`` (a loss) is finite. ``settings`` e.g. ``"--lr 3e+02"``."""
    if not math.isfinite(value):
        raise NonFiniteTrainingError(
            f"training diverged: the loss became {value} {where} with {settings}; lower --lr "
            "(or the other settings named) and rerun; nothing non-finite was saved")


def check_finite_weights(module: Any, where: str, settings: str) -> None:
    """Raise unless every floating-point parameter and buffer of ``module`` is finite."""
    import torch

    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise NonFiniteTrainingError(
                    f"training diverged: weights {name} hold NaN or infinity {where} with "
                    f"{settings}; lower --lr (or the other settings named) and rerun; nothing "
                    "non-finite was saved")


def checkpoint_error(path: str | Path, exc: BaseException) -> UserError:
    """One short line for an unreadable checkpoint (torch's own text runs to many lines)."""
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    if len(first) > 120:
        first = first[:117] + "..."
    return UserError(f"{path}: unreadable checkpoint ({first}); delete it to start over")
