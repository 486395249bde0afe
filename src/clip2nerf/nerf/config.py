"""The NeRF architecture as one dataclass (DESIGN.md §4): the released nf2vec MLP by default.

The config is part of every NeRF file (``clip2nerf.nerf.io``); the nf2vec encoder reads
weights laid out by the default, so change defaults only together with a file-format bump.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from clip2nerf.utils.bounds import Bound
from clip2nerf.utils.validate import Aabb, parse, schema

DEFAULT_AABB: Aabb = ((-0.7, -0.7, -0.7), (0.7, 0.7, 0.7))


@schema
@dataclass(frozen=True)
class NerfConfig:
    """Architecture of one NeRF field (frozen: it names a weight layout).

    Encoding (frozen, see ``clip2nerf.nerf.encoding``): ``u = (xyz - aabb_min) / (aabb_max -
    aabb_min)`` maps the box to [0, 1]^3, then per coordinate ``d`` and frequency ``k`` the
    features ``sin(2^k·π·u_d), cos(2^k·π·u_d)`` for ``k = 0 .. n_freqs-1``; feature index
    ``d·2·n_freqs + 2·k + {0: sin, 1: cos}`` (tiny-cuda-nn "Frequency" order, as in nf2vec).
    No raw xyz is appended.
    """

    # Files are untrusted: the bounds refuse a 10^9-wide layer before anything is allocated.
    n_freqs: Bound(int, 1, 32).field = 24
    """Frequencies per coordinate; the encoding has ``3 · 2 · n_freqs`` features (144)."""
    hidden: Bound(int, 1, 4096).field = 64
    """Width of the hidden layers."""
    n_hidden_layers: Bound(int, 1, 64).field = 3
    """Number of hidden layers: the MLP has ``n_hidden_layers + 1`` bias-free Linear layers."""
    out_dim: Literal[4] = 4
    """Outputs: rgb (3, sigmoid) + density (1, truncated exp(x + density_bias))."""
    aabb: Aabb = DEFAULT_AABB
    """Axis-aligned object box ``((xmin, ymin, zmin), (xmax, ymax, zmax))``; the field is
    empty outside it."""
    density_activation: Literal["trunc_exp"] = "trunc_exp"
    """``exp`` in the forward pass; its gradient uses ``exp(min(x, density_clamp))``."""
    density_bias: Bound(float, -100.0, 100.0).field = -1.0
    """Added to the raw density output before the activation (nf2vec: exp(x - 1))."""
    density_clamp: Bound(float, 0.0, 80.0).field = 15.0
    """Clamp of the exponent in the truncated-exp gradient, for stability."""
    rgb_activation: Literal["sigmoid"] = "sigmoid"
    """Colour activation."""

    @property
    def in_dim(self) -> int:
        """Width of the frequency encoding (144 for the default)."""
        return 3 * 2 * self.n_freqs

    def layer_shapes(self) -> list[tuple[int, int]]:
        """``(out, in)`` weight shapes of ``layers.0 .. layers.N`` (the state-dict order)."""
        dims = [self.in_dim] + [self.hidden] * self.n_hidden_layers + [self.out_dim]
        return [(dims[i + 1], dims[i]) for i in range(len(dims) - 1)]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["aabb"] = [list(self.aabb[0]), list(self.aabb[1])]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NerfConfig:
        """Inverse of ``to_dict`` and the schema of the header: unknown keys, wrong types,
        unknown activations, non-finite numbers, sizes out of their bounds and an inverted
        box raise ``ValueError`` naming the field (``clip2nerf.utils.validate.parse``)."""
        return parse(cls, d, "NeRF config")

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field."""
        for name in ("n_freqs", "hidden", "n_hidden_layers"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.out_dim != 4:
            raise ValueError(f"out_dim must be 4 (rgb + density), got {self.out_dim!r}")
        lo, hi = self.aabb
        if len(lo) != 3 or len(hi) != 3 or not all(a < b for a, b in zip(lo, hi, strict=True)):
            raise ValueError(f"aabb must be ((xmin,ymin,zmin),(xmax,ymax,zmax)) with min < max, "
                             f"got {self.aabb!r}")

    def describe(self) -> str:
        """Short human name, used in error messages about mismatched architectures."""
        return (f"freq-encoding {self.n_freqs} freqs -> {self.n_hidden_layers}x{self.hidden} "
                f"ReLU -> {self.out_dim}, no biases")


__all__ = ["Aabb", "DEFAULT_AABB", "NerfConfig"]
