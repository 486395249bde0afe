"""Named dataset presets: tiny JSON files beside this module, behind a short factory."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from clip2nerf.errors import UserError


def list_presets() -> list[str]:
    """Names of the bundled synth presets (``tiny``, ``small``, ``bench``, ...)."""
    folder = resources.files("clip2nerf.data.synth") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_preset(name: str) -> dict[str, Any]:
    """The preset's fields (``per_class``, ``views``, ``res``, ``supersample``, ``description``)."""
    if name not in list_presets():
        raise UserError(f"--preset {name!r}: unknown preset; choose from {', '.join(list_presets())}")
    path = resources.files("clip2nerf.data.synth") / "presets" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))
