"""``NERFS/manifest.json``: which NeRFs a folder holds and how well each one fits.

Written atomically after every object, and rebuildable from the NeRF files themselves
(each file's metadata carries its fit statistics), so a run killed between writing a NeRF
and updating the manifest loses nothing.

Layout::

    {"format": "clip2nerf-nerfs", "version": 1, "dataset": "...",
     "nerf_config": {...}, "fit_config": {...},
     "objects": {"<object_id>": {"file": "<object_id>.safetensors", "class_name": ...,
                                 "psnr": ..., "psnr_object": ..., "fit_seconds": ...,
                                 "steps": ..., "fit_resolution": [w, h], ...}},
     "summary": {"n_objects", "psnr_mean", "psnr_object_mean", "fit_seconds_median", ...}}
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from clip2nerf.errors import UserError
from clip2nerf.utils.io import atomic_write_json, read_json
from clip2nerf.utils.validate import is_number, parse, schema

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "clip2nerf-nerfs"
MANIFEST_VERSION = 1


@schema(extra="ignore")
class ManifestParts(TypedDict, total=False):
    """The parts of a manifest the readers rely on (``dataset``, ``summary`` are for people,
    and rebuilt anyway)."""

    objects: dict[str, dict[str, Any]]
    nerf_config: dict[str, Any]
    fit_config: dict[str, Any]


def nerf_path(out_dir: Path, object_id: str) -> Path:
    """Where the NeRF of ``object_id`` lives inside a NeRF folder."""
    return Path(out_dir) / f"{object_id}.safetensors"


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The manifest of ``out_dir``, or None when there is none yet."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        return None
    data = read_json(path, "NeRF manifest")
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise UserError(f"{path} is not a clip2nerf NeRF manifest (format "
                        f"{data.get('format') if isinstance(data, dict) else None!r})")
    from clip2nerf.utils.embeddings import format_version

    if format_version(data.get("version", 0), f"{path}: version") > MANIFEST_VERSION:
        raise UserError(f"{path}: manifest version {data.get('version')} is newer than this "
                        "clip2nerf understands; upgrade clip2nerf")
    try:
        parse(ManifestParts, data, "", where=str(path))
    except ValueError as exc:
        raise UserError(f"{exc}; delete the manifest to rebuild it from the NeRF files") from None
    return data


def _mean(xs: list[float]) -> float | None:
    xs = [x for x in xs if is_number(x) and math.isfinite(x)]
    return round(statistics.fmean(xs), 3) if xs else None


def summarize(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Aggregate figures over the objects of a manifest."""
    secs = [o["fit_seconds"] for o in objects.values()
            if is_number(o.get("fit_seconds")) and math.isfinite(o["fit_seconds"])]
    return {
        "n_objects": len(objects),
        "psnr_mean": _mean([o.get("psnr") for o in objects.values()]),
        "psnr_object_mean": _mean([o.get("psnr_object") for o in objects.values()]),
        "fit_seconds_median": round(statistics.median(secs), 3) if secs else None,
        "fit_seconds_mean": round(statistics.fmean(secs), 3) if secs else None,
    }


def write_manifest(out_dir: Path, header: dict[str, Any],
                   objects: dict[str, dict[str, Any]]) -> Path:
    """Atomically (re)write the manifest with ``header`` fields and per-object entries."""
    data = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **header,
            "objects": dict(sorted(objects.items())), "summary": summarize(objects)}
    path = Path(out_dir) / MANIFEST_NAME
    atomic_write_json(path, data)
    return path
