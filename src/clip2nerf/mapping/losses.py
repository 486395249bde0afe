"""The paper's cosine loss (§3.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``1 - cos(pred_i, target_i)``; pred, target: (n, d) -> scalar.

    Averaging over (view, NeRF) pairs equals the paper's per-object mean over views when every
    object has the same number of views.
    """
    return (1.0 - F.cosine_similarity(pred, target, dim=-1, eps=1e-8)).mean()
