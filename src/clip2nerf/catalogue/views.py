"""Rendered views of catalogue NeRFs: PNG bytes, rendered once then read from a disk cache
(``W/catalogue/thumbs``). ``add_nerfs`` renders view 0 (the thumbnail) of each new NeRF; the
service renders the others on demand."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clip2nerf.apps import render_nerf_view
from clip2nerf.catalogue.store import Catalogue

N_ORBIT_VIEWS = 6
"""Views a result's detail panel shows (azimuths 30 + 60 i degrees); view 0 is the thumbnail."""


@dataclass(frozen=True)
class ViewSettings:
    """How the service renders catalogue views and generated NeRFs."""

    resolution: int = 96
    """Pixels per side (the `clip2nerf search --out` tiles' default)."""
    n_samples: int = 64
    """Samples per ray (the CLI's 128 halves rendering time for no visible gain at 96 px)."""


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an (H, W, 3|4) uint8 array as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def view_png(catalogue: Catalogue, nerf_file: Path, view: int, device: str = "cpu",
             settings: ViewSettings = ViewSettings()) -> bytes:
    """View ``view`` (0..N_ORBIT_VIEWS-1) of a NeRF file, rendered once then read from cache."""
    arr = render_nerf_view(nerf_file, settings.resolution, azimuth_deg=30.0 + 60.0 * view,
                           n_samples=settings.n_samples, device=device,
                           cache_dir=catalogue.thumbs)
    return png_bytes(arr)
