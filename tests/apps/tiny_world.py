"""A tiny, fully offline world for the application and evaluation tests.

16 synthetic objects (4 classes x 4: 8 train, 4 val, 4 test; 4 views of 24 px), one random
NeRF file per object, a randomly initialised tiny nf2vec model, and a deterministic fake VLM
(colour statistics for images, hashed words for texts) behind the real VLM interface.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from clip2nerf.vlm.base import VisionLanguageModel

CLASSES = ("chair", "lamp", "car", "table")


class FakeVLM(VisionLanguageModel):
    """Images -> fixed random projection of 4x4 mean colours; texts -> hashed bag of words."""

    def __init__(self, name: str = "fake-test-vlm", dim: int = 16, seed: int = 0):
        self.name, self.dim = name, dim
        rng = np.random.default_rng(seed)
        self.proj = rng.normal(size=(48, dim)).astype(np.float32)

    def _embed_image_batch(self, images):
        from PIL import Image

        from clip2nerf.vlm.preprocess import to_rgb_array

        feats = []
        for im in images:
            rgb = Image.fromarray(to_rgb_array(im)).resize((4, 4), Image.BILINEAR)
            feats.append(np.asarray(rgb, np.float32).reshape(-1) / 255.0 - 0.5)
        return np.stack(feats) @ self.proj

    def _embed_text_batch(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int(hashlib.md5(w.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
            out[i, 0] += 1e-3
        return out


def make_dataset(out: Path) -> Path:
    from clip2nerf.data.synth import SynthConfig, generate_dataset

    cfg = SynthConfig(classes=CLASSES, per_class=4, views=4, res=24, supersample=1, seed=1)
    generate_dataset(out, cfg, progress=False)
    return out


def make_nerfs(data: Path, out: Path) -> Path:
    """One random, smooth NeRF per object (default architecture), classes in the metadata."""
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.nerf import NerfConfig, NerfField, save_nerf

    ds = open_dataset(data)
    out.mkdir(parents=True, exist_ok=True)
    for k, oid in enumerate(ds.object_ids()):
        torch.manual_seed(k)
        field = NerfField(NerfConfig())
        with torch.no_grad():
            field.layers[-1].weight[3].mul_(40.0)
        save_nerf(out / f"{oid}.safetensors", field, field.config, None,
                  {"object_id": oid, "class_name": ds.get(oid).class_name})
    return out


def make_nf2vec(out: Path) -> Path:
    from clip2nerf.nf2vec import DecoderConfig, EncoderConfig, Nf2vec, Nf2vecConfig

    torch.manual_seed(0)
    cfg = Nf2vecConfig(name="tiny", encoder=EncoderConfig(widths=(32, 32), embed_dim=48),
                       decoder=DecoderConfig(hidden=32, n_freqs=3))
    Nf2vec(cfg).save_pretrained(out)
    return out


def build_world(root):
    """dict: data, nerfs, nf2vec (folders), model, vlm, nerf_table, views, mappers dir."""
    import torch

    from clip2nerf.mapping import MapperConfig, TrainConfig, train_mapper
    from clip2nerf.nf2vec import Nf2vec, embed_nerfs
    from clip2nerf.vlm import embed_views

    torch.set_num_threads(1)
    data = make_dataset(root / "data")
    nerfs = make_nerfs(data, root / "nerfs")
    model = Nf2vec.from_pretrained(make_nf2vec(root / "nf2vec"))
    vlm = FakeVLM()
    table = embed_nerfs(model, nerfs)
    table.save(root / "nerf.safetensors")
    views = embed_views(data, root / "views", vlm, progress=False, log=lambda m: None)
    ids = table.ids
    mappers = {}
    for direction in ("clip2nerf", "nerf2clip"):
        cfg = MapperConfig(direction=direction, vlm_space=vlm.space, vlm_dim=vlm.dim,
                           nf2vec_space=model.space, nf2vec_dim=table.dim,
                           train=TrainConfig.paper(direction, epochs=3, lr=1e-3))
        out = root / "mappers" / direction
        train_mapper(cfg, table, views, ids, None, None, out, progress=False)
        mappers[direction] = out
    return {"root": root, "data": data, "nerfs": nerfs, "nf2vec": root / "nf2vec",
            "model": model, "vlm": vlm, "nerf_table": table, "views": views,
            "mappers": mappers}


def as_render_tree(data, root, ids_by_split):
    """``ids_by_split``'s objects of ``data`` as an nf2vec / ShapeNetRender tree:
    <class>/<object>/transforms_train.json + train/<i>.png, gmnerf's {split}.txt."""
    import json
    import math
    import shutil

    from clip2nerf.data.layouts import open_dataset

    src = open_dataset(data)
    for split, ids in ids_by_split.items():
        lines = []
        for oid in ids:
            rec = src.get(oid)
            folder = root / rec.class_name / oid.removeprefix(f"{rec.class_name}_")
            (folder / "train").mkdir(parents=True)
            frames = []
            for i, fr in enumerate(rec.frames):
                shutil.copyfile(fr.image_path, folder / "train" / f"{i}.png")
                frames.append({"file_path": f"./train/{i}", "transform_matrix": fr.c2w.tolist()})
            angle = 2 * math.atan(0.5 * rec.intrinsics.width / rec.intrinsics.fx)
            (folder / "transforms_train.json").write_text(
                json.dumps({"camera_angle_x": angle, "frames": frames}))
            lines.append(f"{folder.parent.name}/{folder.name}")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root

