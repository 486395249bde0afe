"""One way to persist a model: ``config.json`` (format tag, format version, the config
dataclass) beside safetensors weights, the transformers ``save_pretrained`` /
``from_pretrained`` pattern (DESIGN.md §7). The nf2vec, mapper and offline VLM folders are
written and read through here; NeRF files (one safetensors file, the same three parts in its
header) share the version check, the ``from_dict`` policy and the weights check
(``clip2nerf.utils.weights``).

Writing (weights first, then ``config.json``, each atomically: a folder whose config exists
always has its weights)::

    write_pretrained(folder, "model.safetensors", model.state_dict(),
                     {"format": FORMAT, "version": VERSION, **config.to_dict()},
                     metadata={"format": FORMAT})

Reading::

    body = read_config_json(folder / "config.json", FORMAT, VERSION, "mapper config")
    config = config_from_dict(MapperConfig, body, folder / "config.json", "mapper config")
    state = load_checked_state_dict(folder / "model.safetensors", cls(config).state_dict(), ...)

The ``from_dict`` policy: every config class is a schema (``clip2nerf.utils.validate``:
types, bounds, unknown keys refused and named) read with ``validate.parse``;
``config_from_dict`` turns its ``ValueError`` into one ``UserError`` naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from clip2nerf.errors import UserError
from clip2nerf.utils.validate import parse, schema

T = TypeVar("T")


def check_format_version(value: Any, supported: int, where: str, what: str,
                         error: type[UserError] = UserError, hint: str = "upgrade clip2nerf"
                         ) -> int:
    """The format version ``value`` (an int or a string of digits) as an int; a bad one, or
    one newer than ``supported``, raises ``error`` naming ``where``."""
    from clip2nerf.utils.embeddings import format_version

    try:
        value = format_version(value.strip() if isinstance(value, str) else value,
                               f"{where}: bad format_version: it")
    except UserError as exc:
        raise error(str(exc)) from None
    if value > supported:
        raise error(f"{where}: {what} format version {value} is not supported (this clip2nerf "
                    f"reads version {supported} and older); {hint}")
    return value


def read_config_json(path: str | os.PathLike[str], fmt: str, version: int, what: str,
                     format_optional: bool = False) -> dict[str, Any]:
    """``config.json`` of a model folder without its ``format`` and ``version`` keys.

    Refused, with a ``UserError`` naming the file: a missing or malformed file, not a JSON
    object, another ``format`` (a missing one too, unless ``format_optional``), a version
    newer than ``version``.
    """
    from clip2nerf.utils.io import read_json

    path = Path(path)
    raw = read_json(path, what)
    if not isinstance(raw, dict):
        raise UserError(f"{path} is not a {what} (a JSON object with \"format\": {fmt!r})")
    got = raw.get("format", fmt if format_optional else None)
    if got != fmt:
        raise UserError(f"{path} is not a {what} (format {got!r:.60}, expected {fmt!r})")
    check_format_version(raw.get("version", 0), version, str(path), what)
    return {k: v for k, v in raw.items() if k not in ("format", "version")}


def config_from_dict(cls: type[T], data: Any, where: str | os.PathLike[str], what: str) -> T:
    """``cls.from_dict(data)`` with its ``ValueError``/``TypeError`` as one ``UserError``
    naming ``where`` (unknown keys, wrong types and out-of-range values are named)."""
    try:
        return cls.from_dict(data)  # type: ignore[attr-defined]
    except (ValueError, TypeError) as exc:
        raise UserError(f"{where}: bad {what} ({exc})") from None


@schema
@dataclass
class ModelFolder:
    """The ``config.json`` of a VLM model folder without ``format`` and ``version``: its
    config is ``model`` (checked by its own schema), the rest is for the record."""

    name: str
    model: dict[str, Any]
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)


def read_model_folder(body: dict[str, Any], where: str | os.PathLike[str]) -> ModelFolder:
    """``body`` (from ``read_config_json``) as a ``ModelFolder``; a bad one is a UserError
    naming ``where`` (unknown keys named)."""
    return parse(ModelFolder, body, "", UserError, where=str(where))


def save_weights(path: str | os.PathLike[str], state: dict[str, Any],
                 metadata: dict[str, str] | None = None) -> Path:
    """Write ``state`` (a state dict) as safetensors atomically, tensors moved to the CPU."""
    from safetensors.torch import save_file

    from clip2nerf.utils.io import atomic_path

    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def write_pretrained(folder: str | os.PathLike[str], weights_name: str, state: dict[str, Any],
                     config: dict[str, Any], metadata: dict[str, str] | None = None,
                     config_name: str = "config.json") -> Path:
    """Write a model folder: weights first, then ``config.json`` (each atomically), so a
    folder whose config exists always has its weights. ``config`` is the whole JSON object
    (``format`` and ``version`` first)."""
    from clip2nerf.utils.io import atomic_write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder / weights_name, state, metadata)
    atomic_write_json(folder / config_name, config)
    return folder


__all__ = ["ModelFolder", "check_format_version", "config_from_dict", "read_config_json",
           "read_model_folder",
           "save_weights", "write_pretrained"]
