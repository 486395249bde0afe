"""Reading model weights a user hands in: safetensors only, checked against the model."""

from __future__ import annotations

from pathlib import Path

import torch

from clip2nerf.errors import UserError


def load_checked_state_dict(path: Path, expected: dict[str, torch.Tensor], what: str,
                            optional: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Load ``path`` and check it against ``expected`` (a model's ``state_dict()``).

    Names, shapes and dtypes must match, and floating tensors must be finite; each problem is a
    UserError naming the file and the tensor. ``what`` names the model in messages. Names in
    ``optional`` (added to the format later) may be missing: they keep ``expected``'s value.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise UserError(f"{what} weights not found: {path}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"{path}: corrupt {what} weights ({exc})") from None
    for name in optional:
        if name not in state and name in expected:
            state[name] = expected[name].detach().clone()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise UserError(f"{path}: weights do not match the {what} architecture in its config: "
                        f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    for name, tensor in state.items():
        want = expected[name]
        if tensor.shape != want.shape:
            raise UserError(f"{path}: {name} has shape {tuple(tensor.shape)}, the config "
                            f"expects {tuple(want.shape)}")
        if tensor.dtype != want.dtype:
            raise UserError(f"{path}: {name} is {tensor.dtype}, expected {want.dtype}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise UserError(f"{path}: {name} contains NaN or infinity")
    return state
