"""Contact sheet of a dataset: one row per class, a few objects each, on white."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from clip2nerf.data.dataset import ObjectRecord
from clip2nerf.utils.images import image_grid


def preview_view(rec: ObjectRecord, azimuth_deg: float = 35.0, elevation_deg: float = 25.0) -> int:
    """The view whose camera direction (from the object centre) is closest to a three-quarter
    front view (synth objects face +X); view 0 when poses are unknown."""
    if not getattr(rec, "has_poses", True):
        return 0
    pos = rec.poses()[:, :3, 3].astype(np.float64)
    pos /= np.maximum(np.linalg.norm(pos, axis=1, keepdims=True), 1e-9)
    a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
    want = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    return int(np.argmax(pos @ want))


def contact_sheet(dataset, per_class: int = 6, scale: int = 1) -> Image.Image:
    """One row per class of ``dataset`` (a ``Dataset``), its first ``per_class`` objects."""
    by_class: dict[str, list[str]] = {}
    for oid in dataset.object_ids():
        rec = dataset.get(oid)
        by_class.setdefault(rec.class_name, []).append(oid)
    classes = [c for c in dataset.classes if c in by_class] + sorted(set(by_class) - set(dataset.classes))
    tiles, labels = [], []
    ncols = min(per_class, max(len(v) for v in by_class.values()))
    for cls in classes:
        ids = by_class[cls][:ncols]
        for oid in ids:
            rec = dataset.get(oid)
            img = rec.load_view(preview_view(rec))
            if scale > 1:
                img = np.asarray(Image.fromarray(img).resize((img.shape[1] * scale, img.shape[0] * scale),
                                                             Image.NEAREST))
            tiles.append(img)
            labels.append(oid)
        tiles.extend([None] * (ncols - len(ids)))
        labels.extend([""] * (ncols - len(ids)))
    return image_grid(tiles, ncols, labels=labels, row_labels=classes)


def write_contact_sheet(dataset, path: str | Path, per_class: int = 6, scale: int = 1) -> Path:
    """Write the contact sheet PNG atomically; returns its path."""
    from clip2nerf.utils.io import atomic_path

    path = Path(path)
    sheet = contact_sheet(dataset, per_class, scale)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path
