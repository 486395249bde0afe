"""Reading model weights a user hands in: safetensors only, checked against the model.

The one checked weights loader of every model file (NeRF files, nf2vec, mapper and offline VLM
folders): names, shapes, dtypes and finiteness, each problem a ``UserError`` (or the caller's
subclass) naming the file and the tensor, in one wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from clip2nerf.errors import UserError

TensorSpec = torch.Tensor | tuple[tuple[int, ...], torch.dtype]
"""What a tensor must look like: a reference tensor, or ``(shape, dtype)``."""


def read_safetensors(path: Path, what: str, missing_hint: str = "",
                     error: type[UserError] = UserError) -> dict[str, torch.Tensor]:
    """Every tensor of the safetensors file ``path``; a missing or unreadable file is ``error``.

    ``what`` names the model in messages; ``missing_hint`` is appended to "not found" (what to
    run to make the file).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise error(f"{what} weights not found: {path}" + (f"; {missing_hint}" if missing_hint
                                                            else ""))
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise error(f"{path}: corrupt {what} weights ({exc})") from None


def check_state_dict(state: Mapping[str, torch.Tensor], expected: Mapping[str, TensorSpec],
                     where: str, architecture: str, error: type[UserError] = UserError) -> None:
    """Raise ``error`` unless ``state`` has exactly the names, shapes and dtypes of ``expected``
    and its floating tensors are finite.

    ``where`` starts every message (the file); ``architecture`` names what the weights must
    fit, e.g. ``"mapper architecture"``.
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise error(f"{where}: weights do not match the {architecture} in its config: "
                    f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    for name, tensor in state.items():
        want = expected[name]
        shape, dtype = ((tuple(want.shape), want.dtype) if isinstance(want, torch.Tensor)
                        else (tuple(want[0]), want[1]))
        if tuple(tensor.shape) != shape:
            raise error(f"{where}: weights do not match the {architecture}: {name} has shape "
                        f"{tuple(tensor.shape)}, it needs {shape}")
        if tensor.dtype != dtype:
            raise error(f"{where}: {name} is {_dtype_name(tensor.dtype)}, expected "
                        f"{_dtype_name(dtype)}")
        if tensor.is_floating_point() and not _all_finite(tensor):
            raise error(f"{where}: {name} contains NaN or infinite values")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _all_finite(t: torch.Tensor) -> bool:
    if t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64):
        return bool(np.isfinite(t.numpy()).all())  # far less call overhead on small arrays
    return bool(torch.isfinite(t).all())


def load_checked_state_dict(path: Path, expected: dict[str, torch.Tensor], what: str,
                            optional: tuple[str, ...] = (), missing_hint: str = ""
                            ) -> dict[str, torch.Tensor]:
    """Load ``path`` and check it against ``expected`` (a model's ``state_dict()``).

    Names, shapes and dtypes must match, and floating tensors must be finite; each problem is a
    UserError naming the file and the tensor. ``what`` names the model in messages. Names in
    ``optional`` (added to the format later) may be missing: they keep ``expected``'s value.
    """
    state = read_safetensors(path, what, missing_hint)
    for name in optional:
        if name not in state and name in expected:
            state[name] = expected[name].detach().clone()
    check_state_dict(state, expected, str(path), f"{what} architecture")
    return state


__all__ = ["TensorSpec", "check_state_dict", "load_checked_state_dict", "read_safetensors"]
