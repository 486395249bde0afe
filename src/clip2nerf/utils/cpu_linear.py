"""Inference-only ``Linear`` (+ ReLU) on CPU through oneDNN, with the plain torch path as
fallback.

Why: torch runs float32 ``addmm`` on CPU through MKL, whose kernels on AMD CPUs take a generic
path: on the AMD EPYC (AVX-512) this project is measured on, oneDNN's fused linear + ReLU
(``torch.ops.mkldnn._linear_pointwise``, what ``torch.compile`` emits on CPU) ran the nf2vec
encoder's layers 2.2-2.6x faster in full float32 precision, and it also skips ``addmm``'s copy
of the bias into the output (a fifth of the encoder's time). ``benchmarks/bench_classify.py``
prints the batched path both ways on the machine at hand.

The oneDNN op has no autograd formula, so it is used only when nothing needs a gradient
(``torch.no_grad()``, inference); it is private torch API, so a torch without it, a GPU
tensor or another dtype takes the ``addmm`` path (same result up to float rounding).
``CLIP2NERF_ONEDNN_LINEAR=0`` turns it off for a process, ``onednn_disabled()`` for a block.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

__all__ = ["linear", "onednn_linear_available", "onednn_disabled"]


def _find_op() -> Callable | None:
    if os.environ.get("CLIP2NERF_ONEDNN_LINEAR", "1") == "0":
        return None
    try:
        if not torch.backends.mkldnn.is_available():
            return None
        op = torch.ops.mkldnn._linear_pointwise
        x, w, b = torch.ones(2, 3), torch.ones(4, 3), torch.zeros(4)
        if not torch.equal(op(x, w, b, "relu", [], ""), torch.full((2, 4), 3.0)):
            return None
    except (AttributeError, RuntimeError):
        return None
    return op


_OP = _find_op()
_enabled = True


@contextmanager
def onednn_disabled() -> Iterator[None]:
    """Within the block, ``linear`` takes the ``addmm`` path (benchmarks compare the two)."""
    global _enabled
    was, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = was


def onednn_linear_available() -> bool:
    """Whether ``linear`` can take the oneDNN path in this process."""
    return _OP is not None


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, relu: bool = False,
           use_onednn: bool = True) -> torch.Tensor:
    """``x @ weight.T + bias`` (then ReLU when ``relu``): (n, in) x (out, in) -> (n, out).

    oneDNN when available, on CPU float32 and with no gradient needed (and ``use_onednn``);
    ``addmm`` otherwise. The result is a fresh tensor either way.
    """
    if (use_onednn and _enabled and _OP is not None and x.device.type == "cpu"
            and x.dtype == weight.dtype == bias.dtype == torch.float32
            and not (torch.is_grad_enabled()
                     and (x.requires_grad or weight.requires_grad or bias.requires_grad))):
        return _OP(x.contiguous(), weight.contiguous(), bias.contiguous(),
                   "relu" if relu else "none", [], "")
    out = torch.addmm(bias, x, weight.t())
    return torch.relu_(out) if relu else out
