"""Named colours the part grammars paint with, so captions can say them.

Values are sRGB bytes. Names are what a person would call the colour in a caption; shading
changes brightness, not hue, so a "red" part still reads red in every view.
"""

from __future__ import annotations

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (200, 32, 36),
    "dark red": (118, 22, 28),
    "orange": (236, 122, 30),
    "yellow": (240, 200, 40),
    "green": (52, 150, 62),
    "dark green": (30, 82, 42),
    "teal": (22, 138, 138),
    "light blue": (122, 180, 230),
    "blue": (40, 82, 200),
    "navy": (26, 36, 92),
    "purple": (120, 60, 160),
    "pink": (236, 132, 172),
    "brown": (122, 76, 40),
    "dark brown": (72, 46, 26),
    "tan": (200, 160, 110),
    "beige": (226, 210, 176),
    "white": (240, 240, 236),
    "light grey": (186, 186, 186),
    "grey": (128, 128, 128),
    "dark grey": (62, 62, 64),
    "black": (26, 26, 28),
    "silver": (196, 200, 206),
    "gold": (212, 170, 62),
}


def rgb(name: str) -> tuple[float, float, float]:
    """Colour ``name`` as floats in [0, 1]."""
    r, g, b = PALETTE[name]
    return (r / 255.0, g / 255.0, b / 255.0)
