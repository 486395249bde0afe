"""Frequency encoding of points in the NeRF box (the frozen nf2vec input layout).

``u = (xyz - aabb_min) / (aabb_max - aabb_min)`` (box -> [0, 1]^3), then for coordinate ``d``
and frequency ``k``: ``sin(2^k·π·u_d)`` at feature ``d·2·n_freqs + 2k`` and ``cos(2^k·π·u_d)``
at ``d·2·n_freqs + 2k + 1``.

Range reduction: ``2^k·u`` is exact in floating point (a power-of-two scale), and
``sin(π·t)``/``cos(π·t)`` have period 2 in ``t``, so we evaluate them at ``t mod 2`` (also exact).
This is the same function as the naive ``sin(2^k·π·u)``, only computed accurately: the naive
form rounds ``π·2^k·u`` to float32 first, which for k ≳ 20 is noise.
"""

from __future__ import annotations

import math

import torch


def normalize_to_box(xyz: torch.Tensor, aabb: torch.Tensor) -> torch.Tensor:
    """Map points into the unit cube of the box.

    Args:
        xyz: (n, 3) world points.
        aabb: (6,) ``[xmin, ymin, zmin, xmax, ymax, zmax]``.
    Returns:
        (n, 3) points with the box mapped to [0, 1]^3 (points outside fall outside [0, 1]).
    """
    lo, hi = aabb[:3], aabb[3:]
    return (xyz - lo) / (hi - lo)


def frequency_encode(u: torch.Tensor, n_freqs: int) -> torch.Tensor:
    """Encode normalised points.

    Args:
        u: (n, 3) points in box units (see ``normalize_to_box``), float32.
        n_freqs: frequencies per coordinate.
    Returns:
        (n, 3 · 2 · n_freqs) features, ordered ``[d][k][sin, cos]``.
    """
    scales = torch.pow(2.0, torch.arange(n_freqs, device=u.device, dtype=u.dtype))  # (F,)
    t = torch.remainder(u.unsqueeze(-1) * scales, 2.0)  # (n, 3, F), exact range reduction
    # cos(x) = sin(x + π/2): one sin over a tensor already in output order, no stack copy.
    phase = torch.tensor([0.0, 0.5 * math.pi], device=u.device, dtype=u.dtype)
    arg = torch.add(phase, t.unsqueeze(-1), alpha=math.pi)  # (n, 3, F, 2)
    return torch.sin_(arg).reshape(u.shape[0], -1)


def frequency_encode_naive(u: torch.Tensor, n_freqs: int) -> torch.Tensor:
    """The textbook form of ``frequency_encode`` (float64 inputs agree with it); for tests."""
    out = []
    for d in range(u.shape[1]):
        for k in range(n_freqs):
            arg = (2.0**k) * math.pi * u[:, d]
            out += [torch.sin(arg), torch.cos(arg)]
    return torch.stack(out, dim=-1)
