"""The NeRF field: frequency encoding -> bias-free ReLU MLP -> (rgb, density).

State-dict keys are exactly ``layers.0.weight`` ... ``layers.N.weight`` (shapes
``NerfConfig.layer_shapes()``: (64,144), (64,64), (64,64), (4,64) by default). nf2vec reads
these weights, so the names and order are a file format.
"""

from __future__ import annotations

import torch
from torch import nn

from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.encoding import frequency_encode, normalize_to_box


class _TruncExp(torch.autograd.Function):
    """exp(x) whose gradient uses exp(min(x, clamp)) so large logits cannot blow up training."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, clamp: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.clamp = clamp
        return torch.exp(x)

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return g * torch.exp(torch.clamp(x, max=ctx.clamp)), None


def trunc_exp(x: torch.Tensor, clamp: float = 15.0) -> torch.Tensor:
    """exp(x) with a gradient clamped at exp(clamp)."""
    return _TruncExp.apply(x, clamp)


def density_activation(raw: torch.Tensor, config: NerfConfig) -> torch.Tensor:
    """(n,) raw density logits -> (n,) densities ``trunc_exp(raw + density_bias)``."""
    return trunc_exp(raw + config.density_bias, config.density_clamp)


class NerfField(nn.Module):
    """A radiance field without view dependence, inside ``config.aabb``.

    ``forward(xyz (n, 3)) -> (rgb (n, 3) in [0, 1], sigma (n,) >= 0)``. Points are normalised by
    the box to [0, 1]^3 before encoding (see ``clip2nerf.nerf.encoding``); the caller is
    responsible for only querying points inside the box (the renderer does).
    """

    def __init__(self, config: NerfConfig | None = None):
        super().__init__()
        self.config = config or NerfConfig()
        self.config.validate()
        self.layers = nn.ModuleList(
            nn.Linear(i, o, bias=False) for o, i in self.config.layer_shapes()
        )
        lo, hi = self.config.aabb
        self.register_buffer("aabb", torch.tensor([*lo, *hi], dtype=torch.float32),
                             persistent=False)
        self._grad_hook = None
        self.n_active = self.config.n_freqs

    def limit_frequencies(self, n_active: int | None) -> None:
        """Use only frequencies ``k < n_active`` (None: all) and zero the input weights of
        the others, keeping them zero while training (their gradient is masked).

        The module keeps the full architecture; with those weight columns zero the full
        encoding computes exactly the same function, so the NeRF file is unchanged in
        layout. Fitting uses it to drop frequencies above what the views resolve (and to
        skip computing them).
        """
        f = self.config.n_freqs
        self.n_active = f if n_active is None else max(1, min(int(n_active), f))
        cols = torch.tensor([d * 2 * f + 2 * k + j for d in range(3)
                             for k in range(self.n_active) for j in range(2)])
        self.register_buffer("active_cols", cols, persistent=False)
        w = self.layers[0].weight
        if self._grad_hook is not None:
            self._grad_hook.remove()
            self._grad_hook = None
        if self.n_active < f:
            mask = torch.zeros_like(w)
            mask[:, cols] = 1.0
            with torch.no_grad():
                w.mul_(mask)
            self._grad_hook = w.register_hook(lambda g: g * mask.to(g.device))

    def raw(self, xyz: torch.Tensor) -> torch.Tensor:
        """(n, 3) points -> (n, out_dim) MLP outputs before the activations."""
        u = normalize_to_box(xyz, self.aabb)
        if self.n_active < self.config.n_freqs:
            h = torch.nn.functional.linear(frequency_encode(u, self.n_active),
                                           self.layers[0].weight[:, self.active_cols])
        else:
            h = self.layers[0](frequency_encode(u, self.config.n_freqs))
        for layer in self.layers[1:]:
            h = layer(torch.relu(h))
        return h

    def forward(self, xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.raw(xyz).float()
        rgb = torch.sigmoid(out[:, :3])
        sigma = density_activation(out[:, 3], self.config)
        return rgb, sigma
