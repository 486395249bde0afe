"""A tiny served catalogue: the apps' tiny world (fake VLM, tiny nf2vec, both mappers) with
12 of its 16 NeRFs in a catalogue; the other 4 are kept for ``catalogue add`` tests."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "apps"))

from tiny_world import CLASSES, FakeVLM, build_world  # noqa: E402

N_INITIAL = 12


def build_catalogue(root: Path) -> dict:
    from clip2nerf.catalogue import Catalogue, CatalogueModels, add_nerfs

    world = build_world(root / "world")
    workdir = root / "cat"
    workdir.mkdir()
    cat = Catalogue(workdir)
    cat.write_models(CatalogueModels(
        nf2vec=str(world["nf2vec"]), clip2nerf=str(world["mappers"]["clip2nerf"]),
        nerf2clip=str(world["mappers"]["nerf2clip"]), vlm=FakeVLM().name,
        classes=list(CLASSES)))
    files = sorted(world["nerfs"].glob("*.safetensors"))
    add_nerfs(workdir, files[:N_INITIAL], nf2vec=world["model"], thumbnails=False)
    return {**world, "workdir": workdir, "initial": files[:N_INITIAL],
            "spare": files[N_INITIAL:]}


def make_app(workdir: Path, world: dict, lock: str = "text"):
    from clip2nerf.catalogue import Catalogue, ViewSettings
    from clip2nerf.serve import create_app, load_service_models

    models = load_service_models(Catalogue(workdir), vlm=world["vlm"], lock=lock)
    return create_app(workdir, models=models, view_settings=ViewSettings(24, 24))


def png(width: int = 24, height: int = 24, colour=(200, 40, 40), fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    arr = np.zeros((height, width, 3), np.uint8) + np.array(colour, np.uint8)
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def nerf_with_nan(src: Path, out: Path) -> Path:
    """A copy of a NeRF file whose first weight is NaN (``save_nerf`` itself refuses NaN)."""
    from safetensors.torch import safe_open, save_file

    with safe_open(str(src), framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k).clone() for k in fh.keys()}
    tensors["layers.0.weight"][0, 0] = float("nan")
    save_file(tensors, str(out), metadata=meta)
    return out


def nerf_other_architecture(out: Path, object_id: str = "wide_0000") -> Path:
    """A valid NeRF file of another architecture (hidden 32 instead of nf2vec's 64)."""
    from clip2nerf.nerf import NerfConfig, NerfField, save_nerf

    cfg = NerfConfig(hidden=32)
    save_nerf(out, NerfField(cfg), cfg, None, {"object_id": object_id, "class_name": "car"})
    return out
