"""Pictures for the applications: a NeRF file from one vantage point, text tiles, strips."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def render_nerf_view(path: str | Path, resolution: int = 96, azimuth_deg: float = 30.0,
                     elevation_deg: float = 25.0, n_samples: int = 128,
                     device: str = "cpu", cache_dir: str | Path | None = None) -> np.ndarray:
    """One RGBA view ``(resolution, resolution, 4)`` uint8 of a NeRF file (white background).

    With ``cache_dir``, the view is kept there as a PNG named after the file's content hash
    and the view parameters, so the same NeRF is rendered once (a refitted file gets a new
    name); an unreadable cached PNG is rendered again.
    """
    import torch

    from clip2nerf.camera import DEFAULT_ORBIT_RADIUS, default_intrinsics, orbit_cameras
    from clip2nerf.nerf import load_nerf, render_image

    cached = None
    if cache_dir is not None:
        from clip2nerf.utils.io import file_digest

        digest = file_digest(path)
        cached = Path(cache_dir) / (f"{Path(path).stem}-{digest}-{resolution}px-"
                                    f"{azimuth_deg:g}az-{elevation_deg:g}el-{n_samples}s.png")
        if cached.is_file():
            from clip2nerf.errors import UserError
            from clip2nerf.utils.images import load_image

            try:
                view = load_image(cached, "rgba", "cached view")
                if view.shape == (resolution, resolution, 4):
                    return view
            except UserError:
                pass  # a damaged cache entry: render again and replace it
    nf = load_nerf(path)
    pose = orbit_cameras(1, DEFAULT_ORBIT_RADIUS, elevation_deg, azimuth0_deg=azimuth_deg)[0]
    occ = nf.occupancy.to(device) if nf.occupancy is not None else None
    with torch.no_grad():
        img = render_image(nf.field.to(device), default_intrinsics(resolution), pose,
                           nf.aabb.to(device), occ, n_samples=n_samples, device=device)
    view = (img.numpy() * 255 + 0.5).astype(np.uint8)
    if cached is not None:
        from PIL import Image

        from clip2nerf.utils.io import atomic_path

        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cached) as tmp:
            Image.fromarray(view, "RGBA").save(tmp, format="PNG")
    return view


def text_tile(text: str, size: int = 96) -> np.ndarray:
    """The query text wrapped on a white square ``(size, size, 3)`` uint8."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    width = max(6, size // 7)
    lines = textwrap.wrap(f'"{text}"', width)[: max(1, size // 12)]
    for i, line in enumerate(lines):
        draw.text((3, 3 + 12 * i), line, fill=(0, 0, 0), font=font)
    return np.asarray(img)


def strip_png(tiles: Sequence[np.ndarray | None], labels: Sequence[str], out: str | Path) -> None:
    """Write tiles in one row with a label under each, atomically."""
    from clip2nerf.utils.images import image_grid
    from clip2nerf.utils.io import atomic_path

    sheet = image_grid(list(tiles), ncols=len(tiles), labels=list(labels))
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
