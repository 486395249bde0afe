"""Fuzz table: malformed input to every command gets one ``error:`` line and exit 2.

Each case corrupts a copy of a small valid fixture (the applications' tiny world: a synthetic
dataset, its NeRF files, a tiny nf2vec model, mappers, a gallery) or passes an out-of-range
option, runs ``clip2nerf.cli.main.main`` in-process, and asserts: exit status 2, exactly one
``error:`` line and it is the last line of stderr, no traceback, nothing written outside the
case's ``--out``, no temporary files left anywhere. The case ids name the command and the
corruption (``fit/dataset.json-a-list``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from bad_images import png_header

from clip2nerf.cli.main import main

pytestmark = pytest.mark.timeout(120)


# --- the world, built once per module ------------------------------------------------------------

@dataclass
class World:
    root: Path
    data: Path
    nerfs: Path
    nf2vec: Path
    clip2nerf: Path
    nerf2clip: Path
    nerf_emb: Path
    view_emb: Path
    gallery: Path
    obj: str
    """The object the dataset cases corrupt (first in sort order, so it is read first)."""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    from tiny_world import build_world

    w = build_world(tmp_path_factory.mktemp("fuzzworld"))
    root = w["root"]
    gallery = root / "gallery"
    assert main(["index", "--embeddings", str(root / "nerf.safetensors"), "--out",
                 str(gallery)]) == 0
    ids = sorted(p.name for p in (w["data"] / "objects").iterdir())
    return World(root, w["data"], w["nerfs"], w["nf2vec"], w["mappers"]["clip2nerf"],
                 w["mappers"]["nerf2clip"], root / "nerf.safetensors", root / "views", gallery,
                 ids[0])


@pytest.fixture(scope="module", autouse=True)
def fake_vlm():
    """``--vlm fake`` is the tiny world's fake VLM wherever a command loads a VLM."""
    from tiny_world import FakeVLM

    import clip2nerf.vlm.factory as factory

    real = factory.load_vlm

    def load(spec="auto", device="auto", batch_size=None):
        return FakeVLM() if spec == "fake" else real(spec, device=device, batch_size=batch_size)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("clip2nerf.vlm.factory.load_vlm", load)
        mp.setattr("clip2nerf.vlm.load_vlm", load)
        mp.setenv("CLIP2NERF_HOME", "/nonexistent-clip2nerf-home")
        yield


# --- helpers that build corrupted copies ---------------------------------------------------------

def mini_dataset(world: World, dst: Path) -> Path:
    """Two objects of the world's dataset, both in the train split."""
    ids = sorted(p.name for p in (world.data / "objects").iterdir())[:2]
    dst.mkdir(parents=True)
    shutil.copy(world.data / "dataset.json", dst / "dataset.json")
    (dst / "splits").mkdir()
    (dst / "splits" / "train.txt").write_text("\n".join(ids) + "\n")
    (dst / "splits" / "val.txt").write_text("")
    (dst / "splits" / "test.txt").write_text("")
    for oid in ids:
        shutil.copytree(world.data / "objects" / oid, dst / "objects" / oid)
    return dst


def edit_json(path: Path, fn: Callable[[object], object]) -> None:
    path.write_text(json.dumps(fn(json.loads(path.read_text()))))


def set_key(**kw) -> Callable[[dict], dict]:
    return lambda d: {**d, **kw}


def nerf_with(src: Path, dst: Path, config: dict | None = None, header: dict | None = None,
              raw: bytes | None = None, nan_weights: bool = False) -> Path:
    """A copy of a NeRF file with its config header edited (or raw bytes)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    if raw is not None:
        dst.write_bytes(raw)
        return dst
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    if config is not None:
        meta["config"] = json.dumps({**json.loads(meta["config"]), **config})
    if header is not None:
        meta.update(header)
    if nan_weights:
        tensors["layers.0.weight"][0, 0] = float("nan")
    save_file(tensors, str(dst), metadata=meta)
    return dst


def table_file(dst: Path, vectors: np.ndarray, ids, labels=None, space="nf2vec:x",
               extra=None, version="1") -> Path:
    from safetensors.numpy import save_file

    meta = {"format": "clip2nerf-embeddings", "version": version, "space": space,
            "ids": json.dumps(ids), "labels": json.dumps(labels if labels is not None
                                                         else [""] * len(vectors)),
            "extra": json.dumps(extra if extra is not None else {})}
    save_file({"vectors": np.asarray(vectors, np.float32)}, str(dst), metadata=meta)
    return dst


# --- the case table ------------------------------------------------------------------------------

@dataclass
class Ctx:
    world: World
    w: Path
    """This case's own folder (every output and corrupted copy goes here)."""

    def data(self) -> Path:
        return mini_dataset(self.world, self.w / "data")

    def obj_dir(self, data: Path) -> Path:
        return data / "objects" / self.world.obj

    def nerf(self) -> Path:
        return self.world.nerfs / f"{self.world.obj}.safetensors"


@dataclass
class Case:
    id: str
    run: Callable[[Ctx], list[str]]
    """Prepares the case's inputs under ``ctx.w`` and returns the argv."""
    out: str | None = "out"
    """Name under ``ctx.w`` that the command may write to (``None``: nothing at all)."""


CASES: list[Case] = []


def case(cid: str, out: str | None = "out"):
    def deco(fn):
        CASES.append(Case(cid, fn, out))
        return fn
    return deco


# Dataset corruptions: name -> (function(ctx, data_dir), reads views, reads depth only)
DatasetEdit = Callable[[Ctx, Path], None]
DATASET_EDITS: dict[str, tuple[DatasetEdit, str]] = {}
"""kind: "structure" (every reader), "views" (commands that read view images), "depth" (fit)."""


def dataset_edit(name: str, kind: str = "structure"):
    def deco(fn):
        DATASET_EDITS[name] = (fn, kind)
        return fn
    return deco


def _tf(c: Ctx, d: Path) -> Path:
    return c.obj_dir(d) / "transforms.json"


def _view(c: Ctx, d: Path, i: int = 0) -> Path:
    tf = json.loads(_tf(c, d).read_text())
    return c.obj_dir(d) / tf["frames"][i]["file_path"]


def _depth(c: Ctx, d: Path, i: int = 0) -> Path:
    tf = json.loads(_tf(c, d).read_text())
    return c.obj_dir(d) / tf["frames"][i]["depth_file_path"]


for _name, _fn in {
    "dataset.json-a-list": lambda c, d: (d / "dataset.json").write_text("[1, 2]"),
    "dataset.json-version-string": lambda c, d: edit_json(d / "dataset.json", set_key(version="one")),
    "dataset.json-version-newer": lambda c, d: edit_json(d / "dataset.json", set_key(version=99)),
    "dataset.json-classes-int": lambda c, d: edit_json(d / "dataset.json", set_key(classes=5)),
    "dataset.json-format": lambda c, d: edit_json(d / "dataset.json", set_key(format="other")),
    "dataset.json-garbage": lambda c, d: (d / "dataset.json").write_bytes(b"{\x00\xff"),
    "dataset.json-empty": lambda c, d: (d / "dataset.json").write_text(""),
    "meta.json-a-list": lambda c, d: (c.obj_dir(d) / "meta.json").write_text("[]"),
    "meta.json-class-int": lambda c, d: edit_json(c.obj_dir(d) / "meta.json", set_key(**{"class": 5})),
    "meta.json-garbage": lambda c, d: (c.obj_dir(d) / "meta.json").write_bytes(b"\xff\xfe"),
    "meta.json-missing": lambda c, d: (c.obj_dir(d) / "meta.json").unlink(),
    "objects-missing": lambda c, d: shutil.rmtree(d / "objects"),
    "objects-a-file": lambda c, d: (shutil.rmtree(d / "objects"), (d / "objects").write_text("x")),
    "object-a-file": lambda c, d: (shutil.rmtree(c.obj_dir(d)), c.obj_dir(d).write_text("x")),
    "split-binary": lambda c, d: (d / "splits" / "train.txt").write_bytes(b"\xff\x00\xfe\x01"),
    "split-id-traversal": lambda c, d: (d / "splits" / "train.txt").write_text(
        f"../../outside/objects/{c.world.obj}\n"),
    "split-id-absolute": lambda c, d: (d / "splits" / "train.txt").write_text(
        f"{c.obj_dir(d)}\n"),
    "transforms-missing": lambda c, d: _tf(c, d).unlink(),
    "transforms-a-list": lambda c, d: _tf(c, d).write_text("[]"),
    "transforms-garbage": lambda c, d: _tf(c, d).write_bytes(b"\x00\x01"),
    "focal-nan": lambda c, d: edit_json(_tf(c, d), set_key(fl_x=math.nan)),
    "focal-negative": lambda c, d: edit_json(_tf(c, d), set_key(fl_x=-5.0)),
    "focal-zero": lambda c, d: edit_json(_tf(c, d), set_key(fl_x=0, fl_y=0)),
    "focal-string": lambda c, d: edit_json(_tf(c, d), set_key(fl_x="big")),
    "focal-inf": lambda c, d: edit_json(_tf(c, d), set_key(fl_y=math.inf)),
    "camera-angle-zero": lambda c, d: edit_json(
        _tf(c, d), lambda t: {k: v for k, v in {**t, "camera_angle_x": 0}.items()
                              if k not in ("fl_x", "fl_y")}),
    "aabb-inverted": lambda c, d: edit_json(_tf(c, d), set_key(aabb=[[1, 1, 1], [-1, -1, -1]])),
    "aabb-string": lambda c, d: edit_json(_tf(c, d), set_key(aabb="box")),
    "aabb-int": lambda c, d: edit_json(_tf(c, d), set_key(aabb=5)),
    "aabb-nan": lambda c, d: edit_json(_tf(c, d), set_key(aabb=[[math.nan, 0, 0], [1, 1, 1]])),
    "aabb-infinite": lambda c, d: edit_json(_tf(c, d), set_key(aabb=[[-math.inf] * 3, [math.inf] * 3])),
    "depth-scale-string": lambda c, d: edit_json(_tf(c, d), set_key(depth_scale="metres")),
    "depth-scale-negative": lambda c, d: edit_json(_tf(c, d), set_key(depth_scale=-1)),
    "w-zero": lambda c, d: edit_json(_tf(c, d), set_key(w=0)),
    "h-negative": lambda c, d: edit_json(_tf(c, d), set_key(h=-3)),
    "w-huge": lambda c, d: edit_json(_tf(c, d), set_key(w=10**9)),
    "w-string": lambda c, d: edit_json(_tf(c, d), set_key(w="24")),
    "frames-not-a-list": lambda c, d: edit_json(_tf(c, d), set_key(frames={"a": 1})),
    "frames-empty": lambda c, d: edit_json(_tf(c, d), set_key(frames=[])),
    "frame-a-string": lambda c, d: edit_json(_tf(c, d), lambda t: {**t, "frames": ["x"]}),
    "frame-path-int": lambda c, d: edit_json(
        _tf(c, d), lambda t: {**t, "frames": [{**t["frames"][0], "file_path": 5}]}),
    "matrix-3x3": lambda c, d: edit_json(
        _tf(c, d), lambda t: {**t, "frames": [{**t["frames"][0], "transform_matrix": np.eye(3).tolist()}]}),
    "matrix-nan": lambda c, d: edit_json(
        _tf(c, d), lambda t: {**t, "frames": [{**t["frames"][0],
                                               "transform_matrix": [[math.nan] * 4] * 4}]}),
    # Finite as JSON's float64, infinite once the camera is float32.
    "matrix-beyond-float32": lambda c, d: edit_json(
        _tf(c, d), lambda t: {**t, "frames": [{**t["frames"][0],
                                               "transform_matrix": [[1e39] * 4] * 4}]}),
}.items():
    dataset_edit(_name)(_fn)


def _outside_view(c: Ctx, d: Path, key: str) -> None:
    """A frame whose path leads out of the dataset to a real, readable image."""
    outside = c.w / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copy(_view(c, d), outside / "img.png")
    rel = os.path.relpath(outside / "img.png", c.obj_dir(d))
    edit_json(_tf(c, d), lambda t: {**t, "frames": [{**fr, key: rel} for fr in t["frames"]]})


@dataset_edit("view-path-traversal", "views")
def _(c, d):
    _outside_view(c, d, "file_path")


@dataset_edit("view-path-absolute")
def _(c, d):
    edit_json(_tf(c, d), lambda t: {**t, "frames": [{**fr, "file_path": str(_view(c, d))}
                                                    for fr in t["frames"]]})


@dataset_edit("depth-path-traversal")
def _(c, d):
    _outside_view(c, d, "depth_file_path")


for _name, _bytes in {
    "view-bomb-30000px": png_header(30000, 30000),
    "view-12000px-header-4-rows": png_header(12000, 12000, rows=4),
    "view-truncated": png_header(24, 24, rows=3),
    "view-garbage": b"\x89PNG garbage",
    "view-empty": b"",
}.items():
    dataset_edit(_name, "views")(lambda c, d, b=_bytes: _view(c, d).write_bytes(b))


@dataset_edit("view-missing", "views")
def _(c, d):
    _view(c, d).unlink()


@dataset_edit("view-a-folder", "views")
def _(c, d):
    _view(c, d).unlink()
    _view(c, d).mkdir()


@dataset_edit("view-16-bit", "views")
def _(c, d):
    from PIL import Image

    Image.fromarray(np.zeros((24, 24), np.uint16)).save(_view(c, d))


@dataset_edit("view-wrong-size", "views")
def _(c, d):
    from PIL import Image

    Image.new("RGBA", (10, 10)).save(_view(c, d))


@dataset_edit("depth-8-bit", "depth")
def _(c, d):
    from PIL import Image

    Image.fromarray(np.full((24, 24), 7, np.uint8)).save(_depth(c, d))


@dataset_edit("depth-bomb", "depth")
def _(c, d):
    _depth(c, d).write_bytes(png_header(30000, 30000))


@dataset_edit("depth-rgb", "depth")
def _(c, d):
    from PIL import Image

    Image.new("RGB", (24, 24)).save(_depth(c, d))


def _dataset_commands(c: Ctx, data: Path) -> dict[str, tuple[list[str], set[str]]]:
    """command -> (argv, the edit kinds it must refuse)."""
    w, world = c.w, c.world
    return {
        "fit": (["fit", "--data", str(data), "--out", str(w / "out"), "--split", "train",
                 "--steps", "2", "--rays", "16", "--samples", "8", "--grid", "8",
                 "--holdout", "1", "--quiet"], {"structure", "views", "depth"}),
        "embed-views": (["vlm", "embed-views", "--data", str(data), "--out", str(w / "out"),
                         "--vlm", "fake", "--split", "train", "--quiet"],
                        {"structure", "views"}),
        "prepare-offline": (["vlm", "prepare-offline", "--data", str(data), "--out",
                             str(w / "out"), "--split", "train", "--quiet"],
                            {"structure", "views"}),
        "render-data": (["render", str(c.nerf()), "--data", str(data), "--out",
                         str(w / "out" / "r.png"), "--views", "1", "--res", "8",
                         "--samples", "8"], {"structure", "views"}),
        "render-views": (["render-views", "--nerfs", str(world.nerfs), "--data", str(data),
                          "--out", str(w / "out"), "--split", "train", "--res", "8",
                          "--samples", "8", "--quiet"], {"structure"}),
        "augment-photo": (["augment", "photo", "--data", str(data), "--out", str(w / "out"),
                           "--split", "train", "--views-per-object", "1", "--quiet"],
                          {"structure", "views"}),
    }


# structure edits on split files only matter to commands that read splits
_SPLIT_EDITS = {"split-binary", "split-id-traversal", "split-id-absolute"}
_NEEDS_ALL_OBJECTS = {"render-data"}  # reads one object by id, never the split files

for _edit, (_fn, _kind) in DATASET_EDITS.items():
    for _cmd in ("fit", "embed-views", "prepare-offline", "render-data", "render-views",
                 "augment-photo"):
        _kinds = {"fit": {"structure", "views", "depth"}, "embed-views": {"structure", "views"},
                  "prepare-offline": {"structure", "views"}, "augment-photo": {"structure", "views"},
                  "render-data": {"structure", "views"}, "render-views": {"structure"}}[_cmd]
        if _kind not in _kinds or (_edit in _SPLIT_EDITS and _cmd in _NEEDS_ALL_OBJECTS):
            continue
        if _cmd == "render-data" and _edit in ("depth-path-traversal",):
            continue  # render --data never reads depth paths

        def _run(c, edit=_fn, cmd=_cmd):
            data = c.data()
            edit(c, data)
            return _dataset_commands(c, data)[cmd][0]

        CASES.append(Case(f"{_cmd}/{_edit}", _run))


# --- NeRF files with bad headers ------------------------------------------------------------------

NERF_EDITS: dict[str, dict] = {
    "aabb-infinite": {"config": {"aabb": [[-math.inf] * 3, [math.inf] * 3]}},
    "aabb-inverted": {"config": {"aabb": [[1, 1, 1], [-1, -1, -1]]}},
    "aabb-string": {"config": {"aabb": "box"}},
    "density-bias-string": {"config": {"density_bias": "x"}},
    "density-bias-nan": {"config": {"density_bias": math.nan}},
    "density-clamp-string": {"config": {"density_clamp": "a"}},
    "density-activation-relu": {"config": {"density_activation": "relu"}},
    "rgb-activation-bogus": {"config": {"rgb_activation": "bogus"}},
    "hidden-huge": {"config": {"hidden": 10**9}},
    "n-freqs-negative": {"config": {"n_freqs": -1}},
    "n-freqs-bool": {"config": {"n_freqs": True}},
    "out-dim-5": {"config": {"out_dim": 5}},
    "unknown-config-key": {"config": {"skip": 1}},
    "config-not-json": {"header": {"config": "{nope"}},
    "config-a-list": {"header": {"config": "[1]"}},
    "format-other": {"header": {"format": "something"}},
    "version-string": {"header": {"format_version": "x"}},
    "version-newer": {"header": {"format_version": "99"}},
    "meta-a-list": {"header": {"meta": "[1]"}},
    "occupancy-resolution-bad": {"header": {"occupancy_resolution": "x"}},
    "weights-nan": {"nan_weights": True},
    "garbage": {"raw": b"not a safetensors file at all"},
    "empty": {"raw": b""},
    "truncated": {"raw": "truncate"},
}


def _bad_nerf(c: Ctx, name: str) -> Path:
    spec = dict(NERF_EDITS[name])
    if spec.get("raw") == "truncate":
        spec["raw"] = c.nerf().read_bytes()[:300]
    if name == "occupancy-resolution-bad":
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(c.nerf()), framework="pt") as fh:
            meta = dict(fh.metadata())
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        import torch

        tensors["occupancy"] = torch.zeros(1, dtype=torch.uint8)
        meta["occupancy_resolution"] = "x"
        dst = c.w / "bad.safetensors"
        save_file(tensors, str(dst), metadata=meta)
        return dst
    return nerf_with(c.nerf(), c.w / "bad.safetensors", **spec)


def _nerf_commands(c: Ctx, nerf: Path) -> dict[str, list[str]]:
    world = c.world
    return {
        "render": ["render", str(nerf), "--out", str(c.w / "out" / "r.png"), "--views", "1",
                   "--res", "8", "--samples", "8"],
        "classify": ["classify", str(nerf), "--nf2vec", str(world.nf2vec), "--nerf2clip",
                     str(world.nerf2clip), "--vlm", "fake", "--classes", "chair,lamp"],
        "nf2vec-embed": ["nf2vec", "embed", "--model", str(world.nf2vec), "--nerfs", str(nerf),
                         "--out", str(c.w / "out" / "e.safetensors")],
        "nf2vec-decode": ["nf2vec", "decode", "--model", str(world.nf2vec), "--nerf", str(nerf),
                          "--out", str(c.w / "out" / "d.png"), "--views", "1",
                          "--resolution", "8"],
        "describe": ["describe", str(nerf), "--nf2vec", str(world.nf2vec), "--nerf2clip",
                     str(world.nerf2clip), "--data", str(world.data), "--vlm", "fake"],
        "export": ["export", str(nerf), "--out", str(c.w / "out")],
    }


for _edit in NERF_EDITS:
    for _cmd in ("render", "classify", "nf2vec-embed", "nf2vec-decode", "describe", "export"):
        CASES.append(Case(f"{_cmd}/nerf-{_edit}",
                          lambda c, e=_edit, cmd=_cmd: _nerf_commands(c, _bad_nerf(c, e))[cmd]))


# --- out-of-range options -------------------------------------------------------------------------

def _opts(prefix: Callable[[Ctx], list[str]], options: list[list[str]], name: str) -> None:
    for extra in options:
        CASES.append(Case(f"{name}/{' '.join(extra)}", lambda c, e=extra: [*prefix(c), *e]))


_opts(lambda c: ["render", str(c.nerf()), "--out", str(c.w / "out" / "r.png")], [
    ["--res", "100000"], ["--res", "0"], ["--res", "-1"], ["--res", "abc"], ["--res", "1e9"],
    ["--views", "0"], ["--views", "100000"], ["--fov", "0"], ["--fov", "180"], ["--fov", "-10"],
    ["--fov", "nan"], ["--fov", "1e9"], ["--radius", "0"], ["--radius", "-1"],
    ["--radius", "nan"], ["--radius", "inf"], ["--elevation", "nan"], ["--elevation", "1e308"],
    ["--samples", "1000000000"], ["--samples", "0"], ["--cols", "-1"], ["--cols", "0"],
], "render")

_opts(lambda c: ["fit", "--data", str(c.data()), "--out", str(c.w / "out"), "--objects",
                 c.world.obj, "--steps", "2", "--quiet"], [
    ["--lr", "nan"], ["--lr", "1e300"], ["--lr", "0"], ["--lr", "-1"], ["--lr", "inf"],
    ["--samples", "1e9"], ["--samples", "1000000000"], ["--grid", "100000"], ["--grid", "0"],
    ["--seed", str(2**70)], ["--seed", "-1"], ["--steps", "0"], ["--rays", "0"],
    ["--holdout", "-1"], ["--holdout", "4"], ["--holdout", "1000"], ["--workers", "0"],
    ["--threads", "-1"], ["--limit", "0"], ["--image-size", "0"], ["--image-size", "100000"],
    ["--image-size", "nan"],
    ["--shard-size", "0"], ["--max-retries", "-1"], ["--max-retries", "1e9"],
    ["--executor", "dask"], ["--ray-address", "auto"],
], "fit")


def _search(c: Ctx) -> list[str]:
    return ["search", "--text", "a car", "--gallery", str(c.world.gallery), "--clip2nerf",
            str(c.world.clip2nerf), "--vlm", "fake"]


_opts(_search, [["--resolution", "0", "--out", "OUT"], ["--resolution", "-1"],
                ["--resolution", "100000"], ["--k", "0"], ["--k", "-3"], ["--k", "1000000"]],
      "search")


def _generate(c: Ctx) -> list[str]:
    return ["generate", "--text", "a car", "--nf2vec", str(c.world.nf2vec), "--clip2nerf",
            str(c.world.clip2nerf), "--vlm", "fake", "--out", str(c.w / "out" / "g.png")]


_opts(_generate, [["--resolution", "100000"], ["--views", "100000"], ["--views", "0"],
                  ["--resolution", "2"]], "generate")

_opts(lambda c: ["nf2vec", "decode", "--model", str(c.world.nf2vec), "--nerf", str(c.nerf()),
                 "--out", str(c.w / "out" / "d.png")],
      [["--resolution", "100000"], ["--views", "0"], ["--views", "5000"]], "nf2vec-decode")

_opts(lambda c: ["index", "--embeddings", str(c.world.nerf_emb), "--out", str(c.w / "out")],
      [["--nlist", "-1"], ["--nprobe", "-5"], ["--nlist", "0", "--kind", "ivf"],
       ["--nprobe", "0", "--kind", "ivf"], ["--nlist", "1e3"], ["--shard-size", "0"],
       ["--executor", "dask"], ["--ray-address", "auto"], ["--max-retries", "-1"]], "index")


def _map(c: Ctx) -> list[str]:
    return ["map", "train", "--nerf-emb", str(c.world.nerf_emb), "--view-emb",
            str(c.world.view_emb), "--direction", "nerf2clip", "--out", str(c.w / "out"),
            "--epochs", "1"]


_opts(_map, [["--weight-decay", "nan"], ["--weight-decay", "-1"], ["--weight-decay", "inf"],
             ["--lr", "inf"], ["--lr", "0"], ["--lr", "nan"], ["--epochs", "0"],
             ["--batch-size", "0"], ["--seed", "-1"], ["--views", "0"]], "map-train")


_opts(lambda c: ["describe", str(c.nerf()), "--nf2vec", str(c.world.nf2vec), "--nerf2clip",
                 str(c.world.nerf2clip), "--data", str(c.world.data), "--vlm", "fake"],
      [["--k", "0"], ["--k", "-1"], ["--k", "1e9"], ["--bank-split", "nope"]], "describe")

_opts(lambda c: ["augment", "photo", "--data", str(c.world.data), "--out", str(c.w / "out"),
                 "--quiet"],
      [["--views-per-object", "0"], ["--views-per-object", "100000"], ["--size", "0"],
       ["--size", "100000"], ["--seed", "-1"], ["--split", "all"]], "augment-photo")

_opts(lambda c: ["augment", "controlnet", "--data", str(c.world.data), "--out",
                 str(c.w / "out"), "--quiet"],
      [["--steps", "0"], ["--steps", "100000"], ["--guidance", "nan"], ["--guidance", "-1"],
       ["--size", "0"], ["--batch-size", "0"], ["--views-per-object", "0"],
       ["--sd-model", "/nonexistent/sd15"]], "augment-controlnet")

_opts(lambda c: ["caption", "--data", str(c.world.data), "--out", str(c.w / "out" / "c.json"),
                 "--quiet"],
      [["--views", "0"], ["--max-new-tokens", "0"], ["--max-new-tokens", "1e9"],
       ["--batch-size", "0"], ["--model", "/nonexistent/blip2"]], "caption")

_opts(lambda c: ["import", "nerfs", str(c.world.root / "no-such-tree"), "--out",
                 str(c.w / "out")], [[], ["--limit", "0"]], "import-nerfs")


def _pickled_checkpoint(c: Ctx) -> Path:
    """A .pth whose unpickling would run code: must be refused, never executed."""
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(c.w / "pwned"),))

    path = c.w / "ckpt.pth"
    path.write_bytes(pickle.dumps({"encoder": Boom()}))
    return path


CASES += [
    Case("import-nf2vec/pickled-code", lambda c: [
        "import", "nf2vec", str(_pickled_checkpoint(c)), "--out", str(c.w / "out")]),
    Case("import-nf2vec/garbage", lambda c: (
        (c.w / "g.pth").write_bytes(b"garbage"),
        ["import", "nf2vec", str(c.w / "g.pth"), "--out", str(c.w / "out")])[1]),
    Case("import-mapper/pickled-code", lambda c: [
        "import", "mapper", str(_pickled_checkpoint(c)), "--direction", "clip2nerf",
        "--nf2vec", str(c.world.nf2vec), "--vlm-space", "vlm:x", "--out", str(c.w / "out")]),
    Case("import-mapper/input-scale-nan", lambda c: [
        "import", "mapper", str(c.nerf()), "--direction", "clip2nerf", "--nf2vec",
        str(c.world.nf2vec), "--vlm-space", "vlm:x", "--input-scale", "nan", "--out",
        str(c.w / "out")]),
    Case("embed-captions/captions-not-json", lambda c: (
        (c.w / "caps.json").write_text("{nope"),
        ["vlm", "embed-captions", "--data", str(c.world.data), "--captions", str(c.w / "caps.json"),
         "--vlm", "fake", "--out", str(c.w / "out" / "e.safetensors")])[1]),
    Case("embed-captions/captions-a-list", lambda c: (
        (c.w / "caps.json").write_text("[1, 2]"),
        ["vlm", "embed-captions", "--data", str(c.world.data), "--captions", str(c.w / "caps.json"),
         "--vlm", "fake", "--out", str(c.w / "out" / "e.safetensors")])[1]),
]


def _nf2vec_train(c: Ctx) -> list[str]:
    return ["nf2vec", "train", "--nerfs", str(c.world.nerfs), "--out", str(c.w / "out"),
            "--epochs", "1"]


_opts(_nf2vec_train, [["--lr", "-1"], ["--lr", "nan"], ["--lr", "inf"], ["--lr", "0"],
                      ["--stop-after", "0"], ["--stop-after", "-1"], ["--epochs", "0"],
                      ["--batch-size", "0"], ["--threads", "-5"]], "nf2vec-train")

_opts(lambda c: ["vlm", "prepare-offline", "--data", str(c.data()), "--out", str(c.w / "out"),
                 "--quiet"],
      [["--lr", "inf"], ["--lr", "0"], ["--epochs", "0"], ["--image-size", "4"],
       ["--seed", "-1"], ["--batch-size", "0"], ["--image-size", "100000"],
       ["--photo-backgrounds", "nan"], ["--photo-backgrounds", "1.5"], ["--channels", "0"],
       ["--channels", "a,b"], ["--channels", "1,2,3,4,5,6,7"], ["--channels", "99999"]],
      "prepare-offline")

_opts(lambda c: ["vlm", "prepare-zeroshot", "--out", str(c.w / "out")],
      [["--top-t", "0"], ["--top-t", "1001"], ["--top-t", "x"], ["--image-size", "4"],
       ["--image-size", "100000"], ["--backbone", "lite9"]], "prepare-zeroshot")

_opts(lambda c: ["vlm", "prepare-adapted", "--data", str(c.data()), "--out", str(c.w / "out"),
                 "--quiet"],
      [["--ridge", "0"], ["--ridge", "nan"], ["--ridge", "-1"], ["--split", "test"],
       ["--split", "nosuch"], ["--backbone", "b0"]], "prepare-adapted")

_opts(lambda c: ["vlm", "embed-views", "--data", str(c.data()), "--out", str(c.w / "out"),
                 "--vlm", "fake", "--quiet"], [["--chunk", "0"], ["--batch-size", "0"]],
      "embed-views")

_opts(lambda c: ["synth", "--out", str(c.w / "out"), "--quiet"],
      [["--res", "100000"], ["--views", "0"], ["--per-class", "0"], ["--supersample", "100"],
       ["--workers", "0"], ["--seed", "-1"], ["--views", "1000000"]], "synth")

_opts(lambda c: ["eval", "--workdir", str(c.w / "out")],
      [["--samples", "1"], ["--timing-objects", "0"], ["--clip2nerf-lr", "nan"],
       ["--threads", "-1"], ["--nerf2clip-epochs", "0"]], "eval")

_opts(lambda c: ["demo", "--workdir", str(c.w / "out")], [["--workers", "0"], ["--seed", "-1"]],
      "demo")

_opts(lambda c: ["render-views", "--nerfs", str(c.world.nerfs), "--data", str(c.world.data),
                 "--out", str(c.w / "out")], [["--res", "4"], ["--samples", "1"],
                                              ["--threads", "-2"]], "render-views")


# --- classify --template --------------------------------------------------------------------------

for _t in ["{}{}", "a model", "{}{}{}", "{x}"]:
    CASES.append(Case(f"classify/template-{_t}", lambda c, t=_t: [
        "classify", str(c.nerf()), "--nf2vec", str(c.world.nf2vec), "--nerf2clip",
        str(c.world.nerf2clip), "--vlm", "fake", "--template", t]))


# --- images given on the command line ------------------------------------------------------------

QUERY_IMAGES = {
    "bomb-30000px": png_header(30000, 30000),
    "12000px-header-4-rows": png_header(12000, 12000, rows=4),
    "truncated": png_header(64, 64, rows=2),
    "garbage": b"GIF89a garbage",
    "empty": b"",
}


def _image_commands(c: Ctx, img: Path) -> dict[str, list[str]]:
    w = c.world
    return {
        "search": ["search", "--image", str(img), "--gallery", str(w.gallery), "--clip2nerf",
                   str(w.clip2nerf), "--vlm", "fake"],
        "generate": ["generate", "--image", str(img), "--nf2vec", str(w.nf2vec), "--clip2nerf",
                     str(w.clip2nerf), "--vlm", "fake", "--out", str(c.w / "out" / "g.png")],
        "vlm-embed": ["vlm", "embed", "--vlm", "fake", "--image", str(img)],
    }


def _query(c: Ctx, name: str, cmd: str) -> list[str]:
    img = c.w / "query.png"
    img.write_bytes(QUERY_IMAGES[name])
    return _image_commands(c, img)[cmd]


for _name in QUERY_IMAGES:
    for _cmd in ("search", "generate", "vlm-embed"):
        CASES.append(Case(f"{_cmd}/image-{_name}", lambda c, n=_name, m=_cmd: _query(c, n, m)))

for _cmd in ("search", "generate", "vlm-embed"):
    CASES.append(Case(f"{_cmd}/image-a-folder", lambda c, m=_cmd: (
        (c.w / "q.png").mkdir(), _image_commands(c, c.w / "q.png")[m])[1]))


# --- output path collisions -----------------------------------------------------------------------

def _file_parent(c: Ctx) -> Path:
    (c.w / "a_file.txt").write_text("x")
    return c.w / "a_file.txt"


CASES += [
    Case("render/out-under-a-file", lambda c: [
        "render", str(c.nerf()), "--out", str(_file_parent(c) / "r.png"), "--views", "1",
        "--res", "8", "--samples", "8"], out=None),
    Case("render/out-not-png", lambda c: [
        "render", str(c.nerf()), "--out", str(c.w / "r.jpg")], out=None),
    Case("render/out-a-folder", lambda c: (
        (c.w / "r.png").mkdir(), ["render", str(c.nerf()), "--out", str(c.w / "r.png")])[1],
        out=None),
    Case("nf2vec-embed/out-a-folder", lambda c: (
        (c.w / "emb").mkdir(), ["nf2vec", "embed", "--model", str(c.world.nf2vec), "--nerfs",
                                str(c.nerf()), "--out", str(c.w / "emb")])[1], out=None),
    Case("nf2vec-decode/out-jpg", lambda c: [
        "nf2vec", "decode", "--model", str(c.world.nf2vec), "--nerf", str(c.nerf()), "--out",
        str(c.w / "d.jpg"), "--views", "1", "--resolution", "8"], out=None),
    Case("generate/out-jpg", lambda c: [*_generate(c)[:-2], "--out", str(c.w / "g.jpg")],
         out=None),
    Case("generate/out-under-a-file", lambda c: [
        *_generate(c)[:-2], "--out", str(_file_parent(c) / "g.png")], out=None),
    Case("search/out-under-a-file", lambda c: [
        *_search(c), "--out", str(_file_parent(c) / "s.png")], out=None),
    Case("fit/out-a-file", lambda c: [
        "fit", "--data", str(c.data()), "--out", str(_file_parent(c)), "--objects",
        c.world.obj, "--steps", "2", "--quiet"], out=None),
    Case("index/out-a-file", lambda c: [
        "index", "--embeddings", str(c.world.nerf_emb), "--out", str(_file_parent(c))],
        out=None),
    Case("vlm-embed/out-a-folder", lambda c: (
        (c.w / "o").mkdir(), ["vlm", "embed", "--vlm", "fake", "--text", "hi", "--out",
                              str(c.w / "o")])[1], out=None),
]


# --- embeddings, galleries, ids -------------------------------------------------------------------

def _emb(c: Ctx, **kw) -> Path:
    base = dict(vectors=np.eye(3, 8, dtype=np.float32) + 0.1, ids=["a", "b", "c"])
    base.update(kw)
    return table_file(c.w / "emb.safetensors", **base)


def _index(c: Ctx, emb: Path, *extra: str) -> list[str]:
    return ["index", "--embeddings", str(emb), "--out", str(c.w / "out"), *extra]


CASES += [
    Case("index/duplicate-ids", lambda c: _index(c, _emb(c, ids=["a", "b", "a"]))),
    Case("index/all-zero", lambda c: _index(c, _emb(c, vectors=np.zeros((3, 8))))),
    Case("index/one-zero-row", lambda c: _index(c, _emb(c, vectors=np.r_[np.ones((2, 8)),
                                                                         np.zeros((1, 8))]))),
    Case("index/nan-vector", lambda c: _index(c, _emb(c, vectors=np.full((3, 8), np.nan)))),
    Case("index/ids-a-string", lambda c: _index(c, _emb(c, ids="abc"))),
    Case("index/ids-numbers", lambda c: _index(c, _emb(c, ids=[1, 2, 3]))),
    Case("index/extra-a-list", lambda c: _index(c, _emb(c, extra=[1, 2]))),
    Case("index/version-string", lambda c: _index(c, _emb(c, version="one"))),
    Case("index/garbage-file", lambda c: (
        (c.w / "g.safetensors").write_bytes(b"\x00" * 40), _index(c, c.w / "g.safetensors"))[1]),
    Case("index/split-ids-duplicates", lambda c: (
        (c.w / "ids.txt").write_text("a\nb\na\n"),
        _index(c, _emb(c), "--split-ids", str(c.w / "ids.txt")))[1]),
    Case("index/split-ids-binary", lambda c: (
        (c.w / "ids.txt").write_bytes(b"\xff\xfe\x00"),
        _index(c, _emb(c), "--split-ids", str(c.w / "ids.txt")))[1]),
    Case("index/split-ids-unknown", lambda c: (
        (c.w / "ids.txt").write_text("zzz\n"),
        _index(c, _emb(c), "--split-ids", str(c.w / "ids.txt")))[1]),
]


def _bad_gallery(c: Ctx, fn: Callable[[dict], dict] | None = None,
                 index_bytes: bytes | None = None) -> list[str]:
    gal = c.w / "gallery"
    shutil.copytree(c.world.gallery, gal)
    if fn is not None:
        edit_json(gal / "gallery.json", fn)
    if index_bytes is not None:
        (gal / "index.faiss").write_bytes(index_bytes)
    return ["search", "--text", "a car", "--gallery", str(gal), "--clip2nerf",
            str(c.world.clip2nerf), "--vlm", "fake"]


GALLERY_EDITS: dict[str, Callable[[dict], object]] = {
    "ids-a-string": set_key(ids="mia"),
    "labels-a-string": set_key(labels="xyz"),
    "version-string": set_key(version="one"),
    "version-newer": set_key(version=9),
    "ivf-over-flat": lambda d: {**d, "config": {**d["config"], "kind": "ivf", "nlist": 2}},
    "nprobe-zero": lambda d: {**d, "config": {**d["config"], "nprobe": 0}},
    "config-unknown-key": lambda d: {**d, "config": {**d["config"], "zz": 1}},
    "config-a-list": set_key(config=[1]),
    "dim-string": set_key(dim="x"),
    "space-int": set_key(space=5),
    "extra-a-list": set_key(extra=[1]),
    "a-list": lambda d: [d],
    "ids-too-few": lambda d: {**d, "ids": d["ids"][:-1]},
}
for _name, _fn in GALLERY_EDITS.items():
    CASES.append(Case(f"search/gallery-{_name}", lambda c, f=_fn: _bad_gallery(c, f)))
CASES.append(Case("search/gallery-index-garbage",
                  lambda c: _bad_gallery(c, index_bytes=b"garbage bytes")))


def _map_with(c: Ctx, nerf_emb: Path, *extra: str) -> list[str]:
    return ["map", "train", "--nerf-emb", str(nerf_emb), "--view-emb", str(c.world.view_emb),
            "--direction", "nerf2clip", "--out", str(c.w / "out"), "--epochs", "1", *extra]


def _zero_nerf_emb(c: Ctx) -> Path:
    from clip2nerf.utils.embeddings import load_embeddings

    t = load_embeddings(c.world.nerf_emb)
    return table_file(c.w / "nerf.safetensors", np.zeros_like(t.vectors), t.ids, t.labels,
                      t.space, t.extra)


CASES += [
    Case("map-train/all-zero-nerf-embeddings", lambda c: _map_with(c, _zero_nerf_emb(c))),
    Case("map-train/checkpoint-garbage", lambda c: (
        (c.w / "out").mkdir(), (c.w / "out" / "checkpoint.pt").write_bytes(b"PK\x03\x04junk"),
        _map(c))[2]),
    Case("map-train/split-ids-binary", lambda c: (
        (c.w / "ids.txt").write_bytes(b"\xff\x00"),
        _map_with(c, c.world.nerf_emb, "--split-ids", str(c.w / "ids.txt")))[1]),
    Case("map-train/split-ids-duplicates", lambda c: (
        (c.w / "ids.txt").write_text(f"{c.world.obj}\n{c.world.obj}\n"),
        _map_with(c, c.world.nerf_emb, "--split-ids", str(c.w / "ids.txt")))[1]),
    Case("nf2vec-train/checkpoint-garbage", lambda c: (
        (c.w / "out").mkdir(), (c.w / "out" / "checkpoint.pt").write_bytes(b"PK\x03\x04junk"),
        [*_nf2vec_train(c), "--preset", str(_preset(c, {}))])[2]),
]


# --- model configs and presets --------------------------------------------------------------------

def _preset(c: Ctx, train: dict, model: dict | None = None, raw: str | None = None) -> Path:
    from clip2nerf.nf2vec.config import Nf2vecConfig

    path = c.w / "preset.json"
    if raw is not None:
        path.write_text(raw)
        return path
    cfg = Nf2vecConfig.from_dict(json.loads((c.world.nf2vec / "config.json").read_text()))
    m = cfg.to_dict()
    m = {"encoder": m["encoder"], "decoder": m["decoder"]}
    for k, v in (model or {}).items():
        m[k] = {**m[k], **v}
    path.write_text(json.dumps({"model": m, "train": {"epochs": 1, "batch_size": 2,
                                                      "n_points": 64, **train}}))
    return path


for _name, _kw in {
    "epochs-many": {"train": {"epochs": "many"}},
    "lr-string": {"train": {"lr": "fast"}},
    "lr-nan": {"train": {"lr": math.nan}},
    "batch-negative": {"train": {"batch_size": -2}},
    "unknown-train-key": {"train": {"speed": 3}},
    "decoder-huge": {"train": {}, "model": {"decoder": {"hidden": 10**9}}},
    "encoder-widths-negative": {"train": {}, "model": {"encoder": {"widths": [-1]}}},
    "a-list": {"raw": "[1, 2]"},
    "not-json": {"raw": "{nope"},
}.items():
    CASES.append(Case(f"nf2vec-train/preset-{_name}", lambda c, kw=_kw: [
        "nf2vec", "train", "--nerfs", str(c.world.nerfs), "--out", str(c.w / "out"),
        "--preset", str(_preset(c, **{"train": {}, **kw}))]))


def _model_copy(c: Ctx, src: Path, fn: Callable[[dict], object]) -> Path:
    dst = c.w / "model"
    shutil.copytree(src, dst)
    edit_json(dst / "config.json", fn)
    return dst


def _deep(key: str, sub: str, value) -> Callable[[dict], dict]:
    return lambda d: {**d, key: {**d[key], sub: value}}


for _name, _fn in {
    "decoder-hidden-huge": _deep("decoder", "hidden", 10**9),
    "encoder-widths-negative": _deep("encoder", "widths", [-1]),
    "embed-dim-string": _deep("encoder", "embed_dim", "x"),
    "version-string": set_key(version="one"),
    "a-list": lambda d: [d],
    "unknown-key": set_key(colour=1),
    "nerf-relu": _deep("nerf", "density_activation", "relu"),
    "name-int": set_key(name=5),
}.items():
    CASES.append(Case(f"nf2vec-embed/model-{_name}", lambda c, f=_fn: [
        "nf2vec", "embed", "--model", str(_model_copy(c, c.world.nf2vec, f)), "--nerfs",
        str(c.nerf()), "--out", str(c.w / "out" / "e.safetensors")]))

for _name, _fn in {
    "vlm-dim-string": set_key(vlm_dim="x"),
    "hidden-huge": set_key(hidden_dim=10**9),
    "direction-bogus": set_key(direction="sideways"),
    "a-list": lambda d: [d],
    "train-lr-string": _deep("train", "lr", "x"),
    "n-views-negative": set_key(n_views=-1),
    "version-string": set_key(version="two"),
    "unknown-key": set_key(colour=1),
}.items():
    CASES.append(Case(f"classify/mapper-{_name}", lambda c, f=_fn: [
        "classify", str(c.nerf()), "--nf2vec", str(c.world.nf2vec), "--nerf2clip",
        str(_model_copy(c, c.world.nerf2clip, f)), "--vlm", "fake"]))


def _offline_model(c: Ctx, model: object) -> Path:
    folder = c.w / "vlm"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "format": "clip2nerf-vlm-offline", "version": 1, "name": "x", "model": model}))
    return folder


for _name, _model in {
    "image-size-huge": {"image_size": 10**6},
    "channels-string": {"channels": "x"},
    "knn-k-negative": {"knn_k": -1},
    "tower-bogus": {"image_tower": "transformer"},
    "temperature-nan": {"knn_temperature": math.nan},
    "model-a-list": [1],
}.items():
    CASES.append(Case(f"vlm-embed/offline-{_name}", lambda c, m=_model: [
        "vlm", "embed", "--vlm", str(_offline_model(c, m)), "--text", "hi"]))


def _pretrained_model(c: Ctx, edit: dict) -> Path:
    """A zero-shot VLM folder (config only) with ``edit`` merged into its model config."""
    folder = c.w / "vlm"
    folder.mkdir(parents=True)
    cfg = {"format": "clip2nerf-vlm-pretrained", "version": 1, "name": "x", "description": "",
           "model": {"backbone": "lite0", "bridge": "conse", "top_t": 10}, "training": {}}
    cfg["model"].update(edit)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


for _name, _model in {
    "top-t-zero": {"top_t": 0},
    "top-t-string": {"top_t": "ten"},
    "backbone-bogus": {"backbone": "resnet"},
    "bridge-head-without-weights": {"bridge": "head"},
    "template-without-slot": {"imagenet_template": "a thing"},
    "image-size-huge": {"image_size": 10**6},
    "unknown-key": {"colour": "red"},
    "hand-edited-name": {},
}.items():
    CASES.append(Case(f"vlm-embed/pretrained-{_name}", lambda c, m=_model: [
        "vlm", "embed", "--vlm", str(_pretrained_model(c, m)), "--text", "hi"]))


CASES.append(Case("vlm-embed/offline-version-string", lambda c: (
    _offline_model(c, {}), edit_json(c.w / "vlm" / "config.json", set_key(version="two")),
    ["vlm", "embed", "--vlm", str(c.w / "vlm"), "--text", "hi"])[2]))


# --- a fit folder with a damaged manifest ---------------------------------------------------------

def _fit_manifest(c: Ctx, content: str) -> list[str]:
    (c.w / "out").mkdir()
    (c.w / "out" / "manifest.json").write_text(content)
    return ["fit", "--data", str(c.data()), "--out", str(c.w / "out"), "--objects",
            c.world.obj, "--steps", "2", "--holdout", "1", "--quiet"]


for _name, _content in {
    "version-string": '{"format": "clip2nerf-nerfs", "version": "one", "objects": {}}',
    "objects-a-list": '{"format": "clip2nerf-nerfs", "version": 1, "objects": [1, 2]}',
    "entry-a-string": '{"format": "clip2nerf-nerfs", "version": 1, "objects": {"a": "x"}}',
    "a-list": "[]",
    "not-json": "{nope",
    "fit-config-a-string": '{"format": "clip2nerf-nerfs", "version": 1, "fit_config": "x"}',
}.items():
    CASES.append(Case(f"fit/manifest-{_name}", lambda c, t=_content: _fit_manifest(c, t)))


# --- the runner -----------------------------------------------------------------------------------

def _tree(root: Path, prefix: str = "") -> dict[str, tuple[int, int]]:
    """path -> (size, or -1 for a folder; mtime) of everything under ``root`` (one stat each)."""
    out = {}
    with os.scandir(root) as it:
        for e in it:
            st = e.stat(follow_symlinks=False)
            rel = prefix + e.name
            if e.is_dir(follow_symlinks=False):
                out[rel] = (-1, st.st_mtime_ns)
                out.update(_tree(Path(e.path), rel + os.sep))
            else:
                out[rel] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def world_tree(world: World) -> dict[str, tuple[int, int]]:
    """The shared fixtures as built: no case may change them."""
    return _tree(world.root)


def _leftovers(paths) -> list[str]:
    return [p for p in paths
            if any(part.startswith(".") and (".tmp" in part or ".partial" in part
                                             or ".train-" in part or ".old-" in part)
                   for part in Path(p).parts)]


def test_case_count():
    """The issue asks for at least 300 generated malformed inputs."""
    assert len(CASES) >= 300, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_is_one_error_line(case: Case, world: World, world_tree, tmp_path,
                                           capsys):
    ctx = Ctx(world, tmp_path)
    argv = case.run(ctx)
    argv = [str(tmp_path / "out" / "s.png") if a == "OUT" else a for a in argv]
    before = _tree(tmp_path)
    capsys.readouterr()
    rc = main(argv)
    cap = capsys.readouterr()
    err_lines = [ln for ln in cap.err.replace("\r", "\n").splitlines() if ln.strip()]
    errors = [ln for ln in err_lines if ln.startswith("error:")]
    assert "Traceback" not in cap.err + cap.out
    assert rc == 2, f"exit {rc}; stderr: {cap.err[-500:]!r}"
    assert len(errors) == 1 and err_lines[-1] == errors[0], cap.err[-800:]
    after = _tree(tmp_path)
    changed = {p for p in set(after) | set(before) if after.get(p) != before.get(p)}
    allowed = (case.out,) if case.out else ()
    outside = sorted(p for p in changed if not any(p == a or p.startswith(a + os.sep)
                                                   for a in allowed))
    assert not outside, f"written outside --out: {outside}"
    assert not _leftovers(after), _leftovers(after)
    assert _tree(world.root) == world_tree, "the shared fixtures were modified"
