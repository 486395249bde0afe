"""NeRF files: one safetensors file per NeRF, never pickle.

Tensors:
    ``layers.{i}.weight``  float32, shapes ``NerfConfig.layer_shapes()`` (the field's weights)
    ``occupancy``          uint8 (ceil(R^3 / 8),): the (R, R, R) grid, x-major, ``np.packbits``
                           (big-endian bit order); absent when the NeRF has no grid
    ``output_padding``     float32 (pad16(out_dim) - out_dim, hidden), optional: the untrained
                           padded output rows of a NeRF imported from tiny-cuda-nn (they do
                           not change renders; nf2vec's reference encoder reads them)
Metadata (safetensors string header):
    ``format`` = "clip2nerf-nerf", ``format_version`` = "1", ``config`` = NerfConfig JSON,
    ``occupancy_resolution`` = R (when a grid is stored), ``meta`` = JSON object with at least
    ``object_id`` and ``class_name`` (plus fit statistics such as ``psnr``, ``steps``).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clip2nerf.errors import UserError
from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.field import NerfField
from clip2nerf.nerf.occupancy import OccupancyGrid
from clip2nerf.utils.io import atomic_path
from clip2nerf.utils.validate import parse_json

NERF_FORMAT = "clip2nerf-nerf"
NERF_FORMAT_VERSION = 1
PADDING_KEY = "output_padding"


class NerfFileError(UserError):
    """A NeRF file is missing, corrupt or of another architecture; the message names it."""


class _NamedByMeta:
    """``object_id`` and ``class_name`` from a NeRF file's ``meta`` header."""

    meta: dict[str, Any]

    @property
    def object_id(self) -> str:
        return str(self.meta.get("object_id", ""))

    @property
    def class_name(self) -> str:
        return str(self.meta.get("class_name", "unknown"))


@dataclass
class NerfFile(_NamedByMeta):
    """A loaded NeRF: architecture, weights, occupancy grid and metadata."""

    path: Path | None
    config: NerfConfig
    state_dict: dict[str, torch.Tensor]
    occupancy: OccupancyGrid | None
    meta: dict[str, Any] = field(default_factory=dict)
    output_padding: torch.Tensor | None = None
    """Imported tiny-cuda-nn NeRFs only: their padded output rows (see module docstring)."""

    @property
    def field(self) -> NerfField:
        """A fresh ``NerfField`` holding these weights (eval mode)."""
        f = NerfField(self.config)
        f.load_state_dict(self.state_dict)
        return f.eval()

    @property
    def aabb(self) -> torch.Tensor:
        lo, hi = self.config.aabb
        return torch.tensor([*lo, *hi], dtype=torch.float32)


def _pack_grid(grid: OccupancyGrid) -> torch.Tensor:
    bits = np.packbits(grid.binary.detach().cpu().numpy().astype(np.uint8).reshape(-1))
    return torch.from_numpy(bits)


def _unpack_grid(packed: torch.Tensor, resolution: int, aabb: torch.Tensor) -> OccupancyGrid:
    n = resolution**3
    bits = np.unpackbits(packed.numpy(), count=n).astype(bool)
    return OccupancyGrid(torch.from_numpy(bits.reshape((resolution,) * 3)), aabb)


def save_nerf(path: str | os.PathLike[str], field: NerfField | dict[str, torch.Tensor],
              config: NerfConfig, occupancy: OccupancyGrid | None = None,
              meta: dict[str, Any] | None = None,
              output_padding: torch.Tensor | None = None) -> Path:
    """Write a NeRF file atomically (temp file, fsync, rename).

    Args:
        field: the fitted field, or its state dict (``layers.{i}.weight`` tensors).
        config: its architecture (stored, and checked against the weights here).
        occupancy: its occupancy grid, or None.
        meta: JSON-able metadata; ``object_id`` and ``class_name`` are expected.
        output_padding: tiny-cuda-nn's padded output rows, kept for imported NeRFs.
    """
    from safetensors.torch import save_file

    sd = field.state_dict() if isinstance(field, torch.nn.Module) else field
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in sd.items()}
    _check_weights(tensors, config, where="save_nerf")
    header = {"format": NERF_FORMAT, "format_version": str(NERF_FORMAT_VERSION),
              "config": json.dumps(config.to_dict()), "meta": json.dumps(meta or {})}
    if occupancy is not None:
        r = occupancy.resolution
        if tuple(occupancy.binary.shape) != (r, r, r):
            raise ValueError(f"occupancy grid must be cubic, got {tuple(occupancy.binary.shape)}")
        tensors["occupancy"] = _pack_grid(occupancy)
        header["occupancy_resolution"] = str(r)
    if output_padding is not None:
        pad = output_padding.detach().to("cpu", torch.float32).contiguous()
        _check_padding(pad, config, "save_nerf")
        tensors[PADDING_KEY] = pad
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


def _check_padding(pad: torch.Tensor, config: NerfConfig, where: str) -> None:
    n = -(-config.out_dim // 16) * 16 - config.out_dim
    if tuple(pad.shape) != (n, config.hidden) or pad.dtype != torch.float32:
        raise NerfFileError(f"{where}: {PADDING_KEY} is {pad.dtype} {tuple(pad.shape)}, "
                            f"expected float32 ({n}, {config.hidden})")
    if not torch.isfinite(pad).all():
        raise NerfFileError(f"{where}: {PADDING_KEY} contains NaN or infinite values")


def _check_weights(tensors: dict[str, torch.Tensor], config: NerfConfig, where: str) -> None:
    """Raise NerfFileError (prefixed by ``where``) unless the weights fit ``config``."""
    from clip2nerf.utils.weights import check_state_dict

    expected = {f"layers.{i}.weight": (s, torch.float32)
                for i, s in enumerate(config.layer_shapes())}
    weights = {k: v for k, v in tensors.items() if k not in ("occupancy", PADDING_KEY)}
    check_state_dict(weights, expected, where, f"architecture ({config.describe()})",
                     error=NerfFileError)


@functools.lru_cache(maxsize=64)
def _config_from_json(text: str) -> NerfConfig:
    """Parsed once per distinct header (a folder of NeRFs shares one; NerfConfig is frozen)."""
    return parse_json(NerfConfig, text, "NeRF config")


def _check_header(header: dict[str, str], where: str, expected_config: NerfConfig | None
                  ) -> tuple[NerfConfig, dict[str, Any]]:
    """The NeRF file's architecture and metadata from its safetensors header; NerfFileError
    (prefixed by ``where``) for another format, an unsupported version, a bad config/meta
    header, or an architecture other than ``expected_config`` (when given)."""
    if header.get("format") != NERF_FORMAT:
        raise NerfFileError(f"{where}: format is {header.get('format')!r}, expected "
                            f"{NERF_FORMAT!r} (write NeRFs with `clip2nerf fit`)")
    from clip2nerf.utils.pretrained import check_format_version

    version = check_format_version(header.get("format_version", ""), NERF_FORMAT_VERSION, where,
                                   "NeRF file", NerfFileError,
                                   "upgrade clip2nerf or refit the NeRF")
    if version < 1:
        raise NerfFileError(f"{where}: format version {version} is not supported (this "
                            f"clip2nerf reads version {NERF_FORMAT_VERSION})")
    try:
        config = _config_from_json(header["config"])
        meta = parse_json(dict[str, Any], header.get("meta", "{}"), "meta")
    except (KeyError, TypeError, ValueError) as exc:
        raise NerfFileError(f"{where}: bad config/meta header ({exc})") from None
    if expected_config is not None and config != expected_config:
        raise NerfFileError(f"{where}: architecture is {config.describe()} with aabb "
                            f"{list(config.aabb)}, expected {expected_config.describe()} with "
                            f"aabb {list(expected_config.aabb)} (refit it with the default "
                            "NerfConfig)")
    return config, meta


def _check_grid_spec(header: dict[str, str], grid_spec: tuple[str, tuple[int, ...]], where: str
                     ) -> int:
    """The grid resolution; NerfFileError unless the stored grid's ``(dtype, shape)`` fits it."""
    try:
        r = int(header["occupancy_resolution"])
        if not 1 <= r <= 1024:
            raise ValueError(r)
    except (KeyError, ValueError):
        raise NerfFileError(f"{where}: occupancy grid without a valid "
                            "occupancy_resolution header (1 to 1024)") from None
    need = -(-r**3 // 8)
    if grid_spec != ("U8", (need,)):
        raise NerfFileError(f"{where}: occupancy is {grid_spec[0]} {grid_spec[1]}, expected "
                            f"U8 (uint8) ({need},) for resolution {r}")
    return r


def load_nerf(path: str | os.PathLike[str], expected_config: NerfConfig | None = None,
              occupancy: bool = True) -> NerfFile:
    """Read and validate a NeRF file.

    Args:
        expected_config: when given, the file's architecture must equal it (e.g. the
            nf2vec default); the error names both.
        occupancy: False skips reading the occupancy grid (the result's ``occupancy`` is then
            None): what embedding a NeRF needs, at a fraction of the cost (the grid is most
            of the file and unpacking it most of the time).
    Raises:
        NerfFileError: missing, truncated or corrupt file, another format or a newer
            version, wrong architecture, wrong shapes or dtypes, non-finite weights, or a bad
            occupancy grid. The message names the file and what is wrong.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    where = f"NeRF file {path}"
    if not path.is_file():
        raise NerfFileError(f"{where} not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()
                       if occupancy or k != "occupancy"}
            # The grid's stored dtype and shape, checked against its header even when the
            # grid itself is skipped (a header read, no data).
            grid_spec = None
            if "occupancy" in fh.keys():
                grid_slice = fh.get_slice("occupancy")
                grid_spec = (grid_slice.get_dtype(), tuple(grid_slice.get_shape()))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise NerfFileError(f"{where} is not a readable safetensors file (truncated or "
                            f"corrupt?): {exc}") from None
    config, meta = _check_header(header, where, expected_config)
    _check_weights(tensors, config, where)
    grid = None
    if grid_spec is not None:
        r = _check_grid_spec(header, grid_spec, where)
    if "occupancy" in tensors:
        packed = tensors["occupancy"]
        lo, hi = config.aabb
        grid = _unpack_grid(packed, r, torch.tensor([*lo, *hi], dtype=torch.float32))
    padding = tensors.get(PADDING_KEY)
    if padding is not None:
        _check_padding(padding, config, where)
    state_dict = {k: v for k, v in tensors.items() if k not in ("occupancy", PADDING_KEY)}
    return NerfFile(path, config, state_dict, grid, meta, padding)


@dataclass
class NerfWeights(_NamedByMeta):
    """A NeRF file's weights as numpy arrays, read without the occupancy grid
    (``load_nerf_weights``): what embedding many NeRFs needs."""

    path: Path
    config: NerfConfig
    weights: list[np.ndarray]
    """``layers.{i}.weight`` in layer order, float32, shapes ``config.layer_shapes()``."""
    meta: dict[str, Any]
    output_padding: np.ndarray | None = None


def load_nerf_weights(path: str | os.PathLike[str], expected_config: NerfConfig | None = None
                      ) -> NerfWeights:
    """``load_nerf(path, expected_config, occupancy=False)`` as numpy arrays, at a fraction of
    its per-file cost (no torch tensor per weight): the same checks, the same errors
    (``NerfFileError``), the same weight values."""
    from safetensors import SafetensorError, safe_open

    path = path if isinstance(path, Path) else Path(path)
    name = str(path)
    where = f"NeRF file {name}"
    if not os.path.isfile(name):
        raise NerfFileError(f"{where} not found")
    try:
        with safe_open(name, framework="np") as fh:
            header = fh.metadata() or {}
            keys = fh.keys()
            arrays = {k: fh.get_tensor(k) for k in keys if k != "occupancy"}
            grid_spec = None
            if "occupancy" in keys:
                grid_slice = fh.get_slice("occupancy")
                grid_spec = (grid_slice.get_dtype(), tuple(grid_slice.get_shape()))
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError):
        # e.g. a dtype numpy lacks (bfloat16): load_nerf says what is wrong, as for any file
        nf = load_nerf(path, expected_config, occupancy=False)
        return NerfWeights(path, nf.config, [nf.state_dict[f"layers.{i}.weight"].numpy()
                                             for i in range(len(nf.config.layer_shapes()))],
                           nf.meta, None if nf.output_padding is None
                           else nf.output_padding.numpy())
    config, meta = _check_header(header, where, expected_config)
    _check_weights({k: torch.from_numpy(a) for k, a in arrays.items()}, config, where)
    if grid_spec is not None:
        _check_grid_spec(header, grid_spec, where)
    padding = arrays.get(PADDING_KEY)
    if padding is not None:
        _check_padding(torch.from_numpy(padding), config, where)
    weights = [arrays[f"layers.{i}.weight"] for i in range(len(config.layer_shapes()))]
    return NerfWeights(path, config, weights, meta, padding)
