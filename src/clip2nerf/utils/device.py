"""One place that turns ``--device auto|cpu|cuda[:N]`` into a torch.device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clip2nerf.errors import UserError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; asking for CUDA without one is an error."""
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"--device {spec}: CUDA is not available on this machine "
                "(install a CUDA build of torch, or use --device cpu/auto)"
            )
        return torch.device(spec)
    raise UserError(f"--device {spec!r}: expected one of auto, cpu, cuda, cuda:N")
