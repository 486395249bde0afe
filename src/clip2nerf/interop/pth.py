"""Reading the reference code's ``.pth`` files without unpickling code.

Every file goes through ``torch.load(..., weights_only=True)``: tensors, dicts, lists, numbers
and strings load; anything that would run code while unpickling (a pickled module, a custom
class, an optimizer object) is refused with a UserError that says so. Gzipped files
(``grid.pth.gz`` in some nf2vec trees) are read through ``gzip`` first.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

from clip2nerf.errors import UserError


def load_pth(path: str | Path, what: str) -> Any:
    """``torch.load(path, weights_only=True, map_location="cpu")``, errors as UserErrors.

    Args:
        what: what the file should be (named in messages), e.g. "nf2vec NeRF weights".
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                source: Any = io.BytesIO(fh.read())
        else:
            source = str(path)
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(
            f"{path}: refused to load {what}: it needs unpickling of Python objects other than "
            f"tensors and plain containers, which could run code ({str(exc).splitlines()[0]}). "
            "Re-save it as a plain state dict (torch.save(model.state_dict(), ...)) with a "
            "trusted Python") from None
    except (OSError, EOFError, RuntimeError, ValueError) as exc:
        raise UserError(f"{path}: not a readable {what} file (truncated or corrupt?): "
                        f"{str(exc).splitlines()[0]}") from None


def expect_mapping(obj: Any, path: str | Path, what: str) -> dict[str, Any]:
    """``obj`` if it is a dict with string keys, else a UserError naming ``path``."""
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise UserError(f"{path}: expected {what} as a dict of named tensors, got "
                        f"{type(obj).__name__}")
    return obj


def tensor_entry(sd: dict[str, Any], key: str, path: str | Path, what: str):
    """``sd[key]`` as a dense CPU tensor; missing or non-tensor entries are UserErrors."""
    import torch

    if key not in sd:
        raise UserError(f"{path}: {what} has no {key!r} entry (keys: {sorted(sd)[:8]})")
    t = sd[key]
    if not isinstance(t, torch.Tensor):
        raise UserError(f"{path}: {what} entry {key!r} is a {type(t).__name__}, not a tensor")
    if t.layout != torch.strided:
        t = t.to_dense()
    return t.detach().cpu()


__all__ = ["expect_mapping", "load_pth", "tensor_entry"]
