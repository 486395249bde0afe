"""Open a dataset folder in whichever supported layout it has.

Its own module because it chooses between the readers: the clip2nerf format
(``clip2nerf.data.dataset``) and ShapeNetRender / nf2vec render trees
(``clip2nerf.data.shapenet``, which builds on the first).
"""

from __future__ import annotations

from pathlib import Path

from clip2nerf.data.dataset import DATASET_FILE, Dataset
from clip2nerf.data.shapenet import ShapeNetRenderDataset, looks_like_shapenet_render
from clip2nerf.errors import UserError


def open_dataset(path: str | Path) -> Dataset:
    """Open a dataset folder, whichever supported layout it has: the clip2nerf format
    (``dataset.json``) or a ShapeNetRender / nf2vec render tree (``clip2nerf.data.shapenet``)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"--data {path}: no such folder")
    if not (path / DATASET_FILE).exists() and looks_like_shapenet_render(path):
        return ShapeNetRenderDataset(path)
    return Dataset(path)
