"""nf2vec NeRF trees (the gmnerf dataset's ``nerf/shapenet/mlp``) <-> clip2nerf NeRF folders.

A tree holds one folder per object, ``<class>/<id>/`` with ``nerf_weights.pth`` (a state dict
whose ``mlp_base.params`` is tiny-cuda-nn's flat parameter vector, ``clip2nerf.interop.tcnn``),
``grid.pth`` (a nerfacc occupancy grid, ``clip2nerf.interop.nerfacc``; ``grid.pth.gz`` is read
too) and the training views (``transforms_*.json``, ``train/*.png``; not needed here). Splits
are gmnerf's ``{train,val,test}.txt`` (lines ``<class>/<id>``) in the tree's parent folder or the
tree itself (gmnerf ``datasets/single_arch.py::NerfDataset`` reads ``root.parent/{split}.txt``).

Object ids are ``<class name>_<id>`` with ShapeNet synsets named as in
``clip2nerf.data.shapenet`` — the ids ``ShapeNetRenderDataset`` gives the same objects' views.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from clip2nerf.data.dataset import check_object_ids
from clip2nerf.data.shapenet import SYNSET_TO_CLASS
from clip2nerf.errors import UserError
from clip2nerf.interop.nerfacc import grid_from_state, grid_to_state
from clip2nerf.interop.pth import expect_mapping, load_pth, tensor_entry
from clip2nerf.interop.tcnn import flat_to_state_dict, state_dict_to_flat
from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.io import NerfFileError, load_nerf, save_nerf
from clip2nerf.nerf.manifest import nerf_path, read_manifest, write_manifest
from clip2nerf.utils.io import atomic_path, atomic_write_json, atomic_write_text, read_json

WEIGHTS_FILE = "nerf_weights.pth"
SIDECAR_FILE = "clip2nerf.json"
"""Written by ``export_nerfs`` beside the reference files (which ignore it): the object id,
class and split, so that importing an exported tree gives back the same ids."""
GRID_FILES = ("grid.pth", "grid.pth.gz")
PARAMS_KEY = "mlp_base.params"
SPLIT_NAMES = ("train", "val", "test")
CLASS_TO_SYNSET = {v: k for k, v in SYNSET_TO_CLASS.items()}


@dataclass(frozen=True)
class TreeObject:
    """One object folder of an nf2vec tree."""

    folder: Path
    class_folder: str
    object_folder: str

    @property
    def sidecar(self) -> dict[str, Any]:
        path = self.folder / SIDECAR_FILE
        if not path.is_file():
            return {}
        data = read_json(path, "clip2nerf export sidecar")
        return data if isinstance(data, dict) else {}

    @property
    def class_name(self) -> str:
        return str(self.sidecar.get("class_name")
                   or SYNSET_TO_CLASS.get(self.class_folder, self.class_folder))

    @property
    def object_id(self) -> str:
        return str(self.sidecar.get("object_id") or f"{self.class_name}_{self.object_folder}")


def tree_root(root: str | Path) -> Path:
    """The folder holding ``<class>/<id>/nerf_weights.pth``: ``root`` itself, or
    ``root/nerf/shapenet/mlp`` / ``root/shapenet/mlp`` / ``root/mlp`` for a gmnerf download."""
    root = Path(root)
    for cand in (root, root / "nerf" / "shapenet" / "mlp", root / "shapenet" / "mlp",
                 root / "mlp"):
        if cand.is_dir() and next(cand.glob(f"*/*/{WEIGHTS_FILE}"), None) is not None:
            return cand
    raise UserError(f"{root}: no <class>/<id>/{WEIGHTS_FILE} found (expected an nf2vec NeRF "
                    "tree, e.g. the gmnerf dataset's nerf/shapenet/mlp folder)")


def list_tree(root: Path) -> list[TreeObject]:
    """Objects of a tree (sorted), each folder with a ``nerf_weights.pth``."""
    objs = [TreeObject(p.parent, p.parent.parent.name, p.parent.name)
            for p in sorted(root.glob(f"*/*/{WEIGHTS_FILE}"))
            if not p.parent.parent.name.startswith(".")]
    seen: dict[str, Path] = {}
    for o in objs:
        if o.object_id in seen:
            raise UserError(f"{root}: {seen[o.object_id]} and {o.folder} give the same object "
                            f"id {o.object_id}")
        seen[o.object_id] = o.folder
    return objs


def tree_splits(root: Path) -> dict[str, str]:
    """``<class>/<id>`` -> split from gmnerf's split files in the tree or its parent folder."""
    for folder in (root, root.parent):
        out: dict[str, str] = {}
        for split in SPLIT_NAMES:
            path = folder / f"{split}.txt"
            if path.is_file():
                for line in path.read_text("utf-8").splitlines():
                    parts = Path(line.strip()).parts
                    if len(parts) >= 2:
                        out.setdefault("/".join(parts[-2:]), split)
        if out:
            return out
    return {}


def read_tree_object(obj: TreeObject, config: NerfConfig):
    """Load one object: ``(config, state_dict, output_padding, grid or None, source dtype)``.

    The NeRF's box is the grid's ``_roi_aabb`` when there is one (nf2vec: [-0.7, 0.7]^3),
    else ``config.aabb``; the returned config carries it.
    """
    grid_state = None
    for name in GRID_FILES:
        gpath = obj.folder / name
        if gpath.is_file():
            grid_state = expect_mapping(load_pth(gpath, "nerfacc occupancy grid"), gpath,
                                        "an occupancy grid state")
            if "_roi_aabb" in grid_state:
                roi = tensor_entry(grid_state, "_roi_aabb", gpath, "occupancy grid").float()
                roi = roi.reshape(-1).tolist()
                if len(roi) != 6 or not all(a < b for a, b in zip(roi[:3], roi[3:], strict=True)):
                    raise UserError(f"{gpath}: _roi_aabb {roi} is not a box")
                default = [*config.aabb[0], *config.aabb[1]]
                if not all(abs(a - b) <= 1e-6 for a, b in zip(roi, default, strict=True)):
                    roi = [float(f"{v:.7g}") for v in roi]  # float32 -> the decimal box
                    config = dataclasses.replace(config, aabb=(tuple(roi[:3]), tuple(roi[3:])))
            break
    wpath = obj.folder / WEIGHTS_FILE
    sd = expect_mapping(load_pth(wpath, "nf2vec NeRF weights"), wpath, "NeRF weights")
    flat = tensor_entry(sd, PARAMS_KEY, wpath, "NeRF weights")
    weights, padding = flat_to_state_dict(flat, config, where=f"{wpath}: {PARAMS_KEY}")
    lo, hi = config.aabb
    grid = (None if grid_state is None else
            grid_from_state(grid_state, torch.tensor([*lo, *hi]), gpath))
    return config, weights, padding, grid, str(flat.dtype).replace("torch.", "")


def _entry_from_file(path: Path) -> dict[str, Any] | None:
    try:
        nf = load_nerf(path)
    except NerfFileError:
        return None
    keys = ("class_name", "split", "source", "source_dtype", "occupancy_resolution")
    return {"file": path.name, **{k: nf.meta[k] for k in keys if k in nf.meta}}


def import_tree(root: str | Path, out: str | Path, config: NerfConfig | None = None,
                limit: int | None = None, overwrite: bool = False,
                on_done: Callable[[str, bool], None] | None = None,
                manifest_every_s: float = 10.0) -> dict[str, dict[str, Any]]:
    """Convert every object of an nf2vec tree into ``out/<object_id>.safetensors``.

    Atomic per file and resumable: objects whose file exists and loads are skipped (unless
    ``overwrite``). ``out/manifest.json`` lists each object's class, split and source; it is
    rewritten at most every ``manifest_every_s`` seconds and at the end (the files carry the
    same metadata, so an interrupted run loses nothing).

    Returns:
        The manifest's per-object entries.
    """
    config = config or NerfConfig()
    root = tree_root(root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    objs = list_tree(root)[:limit] if limit else list_tree(root)
    splits = tree_splits(root)
    header = {"dataset": str(root.resolve()), "imported_from": "nf2vec tiny-cuda-nn NeRF tree",
              "nerf_config": {**config.to_dict(), "aabb": "per object (grid _roi_aabb)"}}
    old = read_manifest(out)
    if old is not None and old.get("nerf_config") not in (None, header["nerf_config"]):
        raise UserError(f"{out} holds NeRFs of another architecture; choose another --out")
    objects: dict[str, dict[str, Any]] = dict(old.get("objects", {})) if old else {}
    last_write = time.monotonic()
    for obj in objs:
        oid = obj.object_id
        # An id (from the path or the tree's sidecar file) names a file under --out: plain only.
        check_object_ids([oid], obj.folder / SIDECAR_FILE)
        path = nerf_path(out, oid)
        entry = None if overwrite or not path.exists() else _entry_from_file(path)
        skipped = entry is not None
        if entry is None:
            cfg, weights, padding, grid, dtype = read_tree_object(obj, config)
            split = (splits.get(f"{obj.class_folder}/{obj.object_folder}")
                     or obj.sidecar.get("split", ""))
            meta = {"object_id": oid, "class_name": obj.class_name, "split": split,
                    "synset": obj.class_folder, "source_id": obj.object_folder,
                    "source": str(obj.folder), "source_dtype": dtype,
                    "imported_from": "nf2vec"}
            if grid is not None:
                meta["occupancy_resolution"] = grid.resolution
            save_nerf(path, weights, cfg, grid, meta, output_padding=padding)
            entry = _entry_from_file(path)
            assert entry is not None
        objects[oid] = entry
        if on_done:
            on_done(oid, skipped)
        if time.monotonic() - last_write > manifest_every_s:
            write_manifest(out, header, objects)
            last_write = time.monotonic()
    write_manifest(out, header, objects)
    return {o.object_id: objects[o.object_id] for o in objs}


def export_nerfs(nerf_files: list[Path], out: str | Path, half: bool = False,
                 grid_resolution: int = 96, overwrite: bool = False) -> list[Path]:
    """Write clip2nerf NeRF files as an nf2vec tree the reference code reads.

    Each NeRF becomes ``out/<synset or class>/<id>/nerf_weights.pth`` (``{"mlp_base.params":
    flat}``, float32 or ``half``) and ``grid.pth`` (nerfacc buffers, dense; a NeRF without a
    grid gets a full one of ``grid_resolution``). ``<id>`` is the object id without its
    ``<class>_`` prefix; ``clip2nerf.json`` beside them keeps the id, class and split, so
    importing the tree gives the same ids. ``out/{split}.txt`` list
    ``<class>/<id>`` per split when the NeRFs know their split (gmnerf looks for them one folder
    above its ``mlp`` folder: move them there). Existing objects are kept unless ``overwrite``.
    """
    from clip2nerf.nerf.occupancy import OccupancyGrid

    out = Path(out)
    written: list[Path] = []
    split_lines: dict[str, list[str]] = {}
    for path in nerf_files:
        nf = load_nerf(path)
        cls = nf.class_name
        oid = nf.object_id or path.stem
        obj_folder = nf.meta.get("source_id") or (oid[len(cls) + 1:] if oid.startswith(f"{cls}_")
                                                  else oid)
        cls_folder = nf.meta.get("synset") or CLASS_TO_SYNSET.get(cls, cls)
        if not obj_folder or not cls_folder:
            raise UserError(f"{path}: object id {oid!r} / class {cls!r} cannot name a folder")
        check_object_ids([str(cls_folder), str(obj_folder)], path)  # folders under --out
        folder = out / str(cls_folder) / str(obj_folder)
        if nf.meta.get("split") in SPLIT_NAMES:
            split_lines.setdefault(nf.meta["split"], []).append(f"{cls_folder}/{obj_folder}")
        if not overwrite and (folder / WEIGHTS_FILE).is_file() and (folder / "grid.pth").is_file():
            continue
        flat = state_dict_to_flat(nf.state_dict, nf.config, nf.output_padding,
                                  torch.float16 if half else torch.float32)
        grid = nf.occupancy or OccupancyGrid.full(grid_resolution, nf.aabb)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "grid.pth") as tmp:
            torch.save(grid_to_state(grid), tmp)
        atomic_write_json(folder / SIDECAR_FILE, {"object_id": oid, "class_name": cls,
                                                  "split": nf.meta.get("split", "")})
        with atomic_path(folder / WEIGHTS_FILE) as tmp:
            torch.save({PARAMS_KEY: flat}, tmp)
        written.append(folder)
    for split, lines in split_lines.items():
        atomic_write_text(out / f"{split}.txt", "\n".join(sorted(lines)) + "\n")
    return written


__all__ = ["TreeObject", "export_nerfs", "import_tree", "list_tree", "read_tree_object",
           "tree_root", "tree_splits"]
