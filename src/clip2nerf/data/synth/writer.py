"""Make a dataset in the clip2nerf format (see ``clip2nerf.data.dataset``) from the grammars.

Nothing half-written ever sits at ``out``: objects are written into a hidden staging folder
``.<out>.partial`` beside it (each object folder renamed into place once complete), then
``dataset.json`` and the splits, then the staging folder is renamed to ``out``. An interrupted
run leaves the staging folder; the next run with the same options resumes it. A run whose
options match the complete dataset already at ``out`` does nothing; other options are refused
there unless ``overwrite``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf import __version__
from clip2nerf.classes import CLASS_SYNSETS, CLASSES
from clip2nerf.data.dataset import DATASET_FILE, DATASET_FORMAT, DATASET_VERSION, DEFAULT_AABB
from clip2nerf.data.splits import stratified_splits
from clip2nerf.data.synth.camera import CameraConfig, camera_distance, focal_from_fov, sample_views
from clip2nerf.data.synth.classes import make_object
from clip2nerf.data.synth.objects import SynthObject
from clip2nerf.data.synth.render import MeshRenderer
from clip2nerf.errors import UserError
from clip2nerf.utils import bounds

GENERATOR_VERSION = 1
"""Bump when a change to the grammars, cameras or renderer changes the output bytes."""
DEPTH_SCALE = 1e-4
"""Metres per unit of the 16-bit depth PNGs: 0.1 mm steps, up to 6.55 m."""
_CONFIG_FILE = ".synth_config.json"


@dataclass(frozen=True)
class SynthConfig:
    """What ``clip2nerf synth`` makes."""

    classes: tuple[str, ...] = CLASSES
    """Classes to make, a subset of ``CLASSES``."""
    per_class: int = 8
    """Objects per class."""
    views: int = 36
    """Views per object."""
    res: int = 128
    """Image width = height in pixels."""
    supersample: int = 2
    """Rays per pixel side (anti-aliased edges); depth is always taken at the pixel centre."""
    seed: int = 0
    """Seeds every object (by class and index) and the splits."""
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """train / val / test fractions per class."""
    camera: CameraConfig = field(default_factory=CameraConfig)
    preset: str | None = None
    """The preset the options came from (recorded in dataset.json)."""

    def validate(self) -> None:
        """Raise ``UserError`` naming the bad option."""
        unknown = [c for c in self.classes if c not in CLASSES]
        if unknown:
            raise UserError(f"--classes: unknown class {unknown[0]!r}; choose from {', '.join(CLASSES)}")
        if not self.classes:
            raise UserError("--classes: no class given")
        if len(set(self.classes)) != len(self.classes):
            raise UserError("--classes: a class is listed twice")
        # The CLI options' own bounds: a preset or a caller gets the same limits.
        for bound, name, value in ((bounds.PER_CLASS, "--per-class", self.per_class),
                                   (bounds.VIEWS, "--views", self.views),
                                   (bounds.RESOLUTION, "--res", self.res),
                                   (bounds.SUPERSAMPLE, "--supersample", self.supersample),
                                   (bounds.SEED, "--seed", self.seed)):
            if isinstance(value, str):  # check() parses option strings; a config holds ints
                raise UserError(f"{name} {value!r}: must be {bound.describe()}")
            bound.check(value, name)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["split_fractions"] = list(self.split_fractions)
        d["camera"]["elevation_deg"] = list(self.camera.elevation_deg)
        return d

    def object_ids(self) -> list[str]:
        return [object_id(c, i) for c in self.classes for i in range(self.per_class)]


def object_id(class_name: str, index: int) -> str:
    """The id of a synthetic object: ``<class>_<index, 4 digits>``, e.g. ``chair_0003``."""
    return f"{class_name}_{index:04d}"


@dataclass
class RenderedObject:
    """An object with its views: rgba (n, H, W, 4) uint8, depth (n, H, W) float32 z-depth,
    c2w (n, 4, 4), azimuth/elevation (n,) degrees."""

    object_id: str
    obj: SynthObject
    index: int
    rgba: np.ndarray
    depth: np.ndarray
    c2w: np.ndarray
    azimuth: np.ndarray
    elevation: np.ndarray
    focal: float
    distance: float


def render_object(class_name: str, index: int, cfg: SynthConfig) -> RenderedObject:
    """Build object ``index`` of ``class_name`` and render its ``cfg.views`` views."""
    obj = make_object(class_name, cfg.seed, index)
    mesh, colors = obj.mesh_and_colors()
    radius = float(np.linalg.norm(mesh.vertices, axis=1).max())
    dist = camera_distance(radius, cfg.camera)
    rng = np.random.default_rng([cfg.seed, CLASSES.index(class_name), index, 1])
    c2w, az, el = sample_views(cfg.views, dist, rng, cfg.camera)
    f = focal_from_fov(cfg.res, cfg.camera.fov_deg)
    c = cfg.res / 2.0
    renderer = MeshRenderer(mesh, colors)
    rgba, depth = renderer.render_many(c2w, cfg.res, cfg.res, f, f, c, c, cfg.supersample)
    return RenderedObject(object_id(class_name, index), obj, index, rgba, depth, c2w, az, el, f, dist)


def _png_bytes(arr: np.ndarray) -> bytes:
    """PNG bytes without timestamps or other varying metadata (same array -> same bytes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _r(x: float) -> float:
    return round(float(x), 7)


def write_object(folder: Path, ro: RenderedObject, cfg: SynthConfig) -> None:
    """Write one object's files into ``folder`` (which must exist)."""
    n = ro.rgba.shape[0]
    digits = max(2, len(str(n - 1)))
    (folder / "views").mkdir()
    (folder / "depth").mkdir()
    frames = []
    max_units = 65535
    for i in range(n):
        name = f"{i:0{digits}d}.png"
        (folder / "views" / name).write_bytes(_png_bytes(ro.rgba[i]))
        units = np.round(ro.depth[i] / DEPTH_SCALE)
        if units.max() > max_units:
            raise RuntimeError(f"{ro.object_id}: depth beyond the 16-bit range")
        (folder / "depth" / name).write_bytes(_png_bytes(units.astype(np.uint16)))
        frames.append({
            "file_path": f"views/{name}",
            "depth_file_path": f"depth/{name}",
            "transform_matrix": [[_r(v) for v in row] for row in ro.c2w[i]],
            "azimuth_deg": _r(ro.azimuth[i]),
            "elevation_deg": _r(ro.elevation[i]),
        })
    fov = np.radians(cfg.camera.fov_deg)
    transforms = {
        "camera_angle_x": _r(fov), "camera_angle_y": _r(fov),
        "w": cfg.res, "h": cfg.res, "fl_x": _r(ro.focal), "fl_y": _r(ro.focal),
        "cx": cfg.res / 2.0, "cy": cfg.res / 2.0,
        "aabb": [list(DEFAULT_AABB[0]), list(DEFAULT_AABB[1])],
        "depth_scale": DEPTH_SCALE,
        "camera_distance": _r(ro.distance),
        "frames": frames,
    }
    obj = ro.obj
    meta = {
        "object_id": ro.object_id,
        "class": obj.class_name,
        "caption": obj.caption,
        "colors": dict(obj.colors),
        "parts": list(obj.parts),
        "variant": obj.variant,
        "shapenet_synset": CLASS_SYNSETS[obj.class_name],
        "seed": cfg.seed,
        "index": ro.index,
        "generator": "clip2nerf synth",
        "generator_version": GENERATOR_VERSION,
    }
    (folder / "transforms.json").write_text(json.dumps(transforms, indent=1) + "\n", encoding="utf-8")
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _render_and_write(args: tuple[str, int, SynthConfig, str]) -> str:
    class_name, index, cfg, objects_dir = args
    ro = render_object(class_name, index, cfg)
    objects = Path(objects_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{ro.object_id}.", suffix=".tmp", dir=objects))
    try:
        write_object(tmp, ro, cfg)
        os.replace(tmp, objects / ro.object_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ro.object_id


@dataclass
class SynthReport:
    out: Path
    n_objects: int
    n_resumed: int
    seconds: float
    splits: dict[str, int]
    up_to_date: bool = False
    """True when ``out`` already held this exact dataset and nothing was written."""


def staging_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def _is_dataset(folder: Path) -> bool:
    try:
        info = json.loads((folder / DATASET_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(info, dict) and info.get("format") == DATASET_FORMAT


def _prepare(out: Path, cfg: SynthConfig, overwrite: bool) -> Path:
    """Check ``out`` and return the staging folder (created, or an earlier run's to resume)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"--out {out}: a different dataset (or other files) is already there; "
                        "pass --overwrite to replace it")
    if out.exists() and any(out.iterdir()) and not _is_dataset(out):
        # --overwrite deletes the old folder: never do that to something we did not make.
        raise UserError(f"--out {out}: is not a clip2nerf dataset; refusing to replace it even "
                        "with --overwrite (pick another folder or remove it yourself)")
    stage = staging_dir(out)
    wanted = cfg.to_json()
    if stage.exists():
        try:
            previous = json.loads((stage / _CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            previous = None
        if previous != wanted:
            if not overwrite:
                raise UserError(f"--out {out}: an interrupted run with other options left {stage}; "
                                "rerun with the same options to resume it, or pass --overwrite")
            shutil.rmtree(stage)
    try:
        (stage / "objects").mkdir(parents=True, exist_ok=True)
        if not (stage / _CONFIG_FILE).exists():
            (stage / _CONFIG_FILE).write_text(json.dumps(wanted, indent=2), encoding="utf-8")
        probe = stage / ".write_probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    for stray in (stage / "objects").glob(".*.tmp"):
        shutil.rmtree(stray, ignore_errors=True)  # half-written objects of an interrupted run
    return stage


def generate_dataset(out: str | Path, cfg: SynthConfig, overwrite: bool = False, workers: int = 1,
                     progress: bool = True,
                     on_object: Callable[[str], None] | None = None) -> SynthReport:
    """Make the dataset ``cfg`` describes at ``out`` (see module docstring for resume rules).

    ``on_object`` is called with each object id once it is written (tests use it to interrupt).
    """
    cfg.validate()
    if workers < 1:
        raise UserError(f"--workers {workers}: must be >= 1")
    out = Path(os.path.abspath(out))  # "." or "x/.." have no usable name for the staging folder
    t0 = time.perf_counter()
    finished = None if overwrite else _completed_with(out, cfg)
    if finished is not None:
        # The same options already ran to completion: nothing left to resume.
        n = len(cfg.classes) * cfg.per_class
        return SynthReport(out, n, n, time.perf_counter() - t0, finished, up_to_date=True)
    stage = _prepare(out, cfg, overwrite)
    objects = stage / "objects"
    done = {p.name for p in objects.iterdir() if p.is_dir() and not p.name.startswith(".")}
    todo = [(c, i, cfg, str(objects)) for c in cfg.classes for i in range(cfg.per_class)
            if object_id(c, i) not in done]
    _render_objects(todo, workers, progress, on_object)
    ids_by_class = {c: [object_id(c, i) for i in range(cfg.per_class)] for c in cfg.classes}
    splits = stratified_splits(ids_by_class, cfg.seed, cfg.split_fractions)
    (stage / "splits").mkdir(exist_ok=True)
    for name, ids in splits.items():
        (stage / "splits" / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    info = _dataset_info(out.name, cfg, {k: len(v) for k, v in splits.items()})
    (stage / DATASET_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (stage / _CONFIG_FILE).unlink()
    _replace_folder(out, stage)
    return SynthReport(out, len(cfg.classes) * cfg.per_class, len(done), time.perf_counter() - t0,
                       {k: len(v) for k, v in splits.items()})


def _completed_with(out: Path, cfg: SynthConfig) -> dict[str, int] | None:
    """The split sizes of a finished dataset at ``out`` made with ``cfg``; None if there is
    none (or an unreadable one, or one made with other options)."""
    if not (out / DATASET_FILE).is_file():
        return None
    try:
        info = json.loads((out / DATASET_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if info.get("config") != cfg.to_json():
        return None
    return dict(info.get("counts", {}).get("splits", {}))


def _render_objects(todo: list[tuple[str, int, SynthConfig, str]], workers: int,
                    progress: bool, on_object: Callable[[str], None] | None) -> None:
    """Render and write each object of ``todo`` (in ``workers`` forked processes if > 1)."""
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="synth", unit="obj", disable=not progress, dynamic_ncols=True)
    results: Iterable[str]
    pool = None
    try:
        if workers > 1 and len(todo) > 1:
            import multiprocessing as mp

            pool = mp.get_context("fork").Pool(workers)
            results = pool.imap_unordered(_render_and_write, todo)
        else:
            results = map(_render_and_write, todo)
        for oid in results:
            bar.update(1)
            if on_object is not None:
                on_object(oid)
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()


def _dataset_info(name: str, cfg: SynthConfig, split_sizes: dict[str, int]) -> dict[str, Any]:
    """The dataset's ``dataset.json``."""
    return {
        "format": DATASET_FORMAT,
        "version": DATASET_VERSION,
        "name": name,
        "classes": list(cfg.classes),
        "preset": cfg.preset,
        "seed": cfg.seed,
        "res": cfg.res,
        "views": cfg.views,
        "per_class": cfg.per_class,
        "counts": {"objects": len(cfg.classes) * cfg.per_class,
                   "per_class": {c: cfg.per_class for c in cfg.classes},
                   "splits": split_sizes},
        "generator": "clip2nerf synth",
        "generator_version": GENERATOR_VERSION,
        "clip2nerf_version": __version__,
        "config": cfg.to_json(),
    }


def _replace_folder(out: Path, stage: Path) -> None:
    """Put the finished ``stage`` at ``out``; an old ``out`` is moved aside first and deleted
    only once ``stage`` is in place."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
