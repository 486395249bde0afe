"""The query options that `search` and `generate` share: --text or one or more --image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clip2nerf.errors import UserError


def check_query(text: str | None, images: tuple[Path, ...], noun: str) -> Any:
    """Refuse anything but exactly one non-empty --text or one or more readable --image files.

    Every image is decoded here, before any model loads, so a bad file costs nothing. Returns
    the first image as an RGBA PIL image (what the commands draw beside their results), or
    ``None`` for a text query. ``noun`` names the option pair in the error ("query", "condition").
    """
    if (text is None) == (not images):
        raise UserError(f"give exactly one {noun}: --text TEXT or one or more --image FILE")
    if text is not None and not text.strip():
        raise UserError("--text is empty")
    from PIL import Image

    from clip2nerf.utils.images import load_image

    first = None
    for p in images:
        if not p.is_file():
            raise UserError(f"--image {p}: no such file")
        arr = load_image(p, "auto", "--image")
        if first is None:
            first = Image.fromarray(arr).convert("RGBA")
    return first
