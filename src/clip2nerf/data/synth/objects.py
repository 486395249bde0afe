"""A procedural object: named parts (meshes), a colour per part, a caption; normalisation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import trimesh

from clip2nerf.data.synth.captions import make_caption
from clip2nerf.data.synth.palette import PALETTE, rgb

FIT_HALF_EXTENT = 0.6
"""Objects are scaled so their largest half-extent is this: inside nf2vec's [-0.7, 0.7]^3."""


@dataclass
class SynthObject:
    """Parts keep insertion order; the first part's colour is the object's main colour."""

    class_name: str
    variant: str
    parts: dict[str, list[trimesh.Trimesh]] = field(default_factory=dict)
    colors: dict[str, str] = field(default_factory=dict)
    caption_order: list[str] = field(default_factory=list)
    caption: str = ""
    scale: float = 1.0

    def mesh_and_colors(self) -> tuple[trimesh.Trimesh, np.ndarray]:
        """One merged mesh and its (n_faces, 3) float32 per-face albedo in [0, 1]."""
        meshes, colors = [], []
        for part, items in self.parts.items():
            col = np.asarray(rgb(self.colors[part]), np.float32)
            for m in items:
                meshes.append(m)
                colors.append(np.broadcast_to(col, (len(m.faces), 3)))
        mesh = trimesh.util.concatenate(meshes)
        return mesh, np.concatenate(colors).astype(np.float32)

    def bounds(self) -> np.ndarray:
        """(2, 3) axis-aligned bounds of all parts."""
        pts = np.concatenate([m.vertices for ms in self.parts.values() for m in ms])
        return np.stack([pts.min(0), pts.max(0)])


class Builder:
    """Collects parts and colours while a class grammar runs."""

    def __init__(self, class_name: str, rng: np.random.Generator, variant: str = ""):
        self.obj = SynthObject(class_name, variant)
        self.rng = rng

    def add(self, part: str, *meshes: trimesh.Trimesh) -> None:
        self.obj.parts.setdefault(part, []).extend(meshes)

    def color(self, part: str, choices: list[str] | tuple[str, ...],
              avoid: tuple[str, ...] | list[str] = ()) -> str:
        """Pick (once) the colour of ``part`` from ``choices``, not one of ``avoid``."""
        if part in self.obj.colors:
            return self.obj.colors[part]
        pool = [c for c in choices if c not in avoid] or list(choices)
        for c in pool:
            assert c in PALETTE, c
        name = pool[int(self.rng.integers(len(pool)))]
        self.obj.colors[part] = name
        return name

    def same_or(self, part: str, other: str, p_same: float, choices: list[str] | tuple[str, ...],
                avoid: tuple[str, ...] | list[str] = ()) -> str:
        """Colour ``part`` like ``other`` with probability ``p_same``, else pick from ``choices``."""
        if self.rng.random() < p_same:
            self.obj.colors[part] = self.obj.colors[other]
            return self.obj.colors[part]
        return self.color(part, choices, avoid=(*avoid, self.obj.colors[other]))

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def choice(self, options: list | tuple, p: list[float] | None = None):
        return options[int(self.rng.choice(len(options), p=p))]

    def finish(self, noun: str, caption_order: list[str] | None = None) -> SynthObject:
        """Centre the object at the origin, scale it to ``FIT_HALF_EXTENT``, write the caption."""
        obj = self.obj
        missing = [p for p in obj.parts if p not in obj.colors]
        assert not missing, f"{obj.class_name}: parts without colour {missing}"
        lo, hi = obj.bounds()
        center = (lo + hi) / 2
        scale = FIT_HALF_EXTENT / float(np.max(hi - lo) / 2)
        for ms in obj.parts.values():
            for m in ms:
                m.apply_translation(-center)
                m.apply_scale(scale)
        obj.scale = scale
        obj.caption_order = caption_order or list(obj.parts)
        obj.caption = make_caption(noun, obj.colors, obj.caption_order, self.rng)
        return obj
