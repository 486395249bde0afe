"""Fit NeRFs for many objects of a dataset: one file per object, a manifest, resume.

Objects are fitted one after another (batching NeRFs with bmm/vmap measured slower than a
loop on CPU), optionally in ``workers`` processes with ``threads`` torch threads each: on a
busy 2-core machine one thread per process is far faster than two threads that spin-wait on
each other. With a Ray executor (``clip2nerf.utils.executor``) the objects are split into
shards, one Ray task each (:func:`fit_shard`).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from clip2nerf.errors import UserError
from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.fit import FitConfig
from clip2nerf.nerf.manifest import nerf_path, read_manifest, write_manifest
from clip2nerf.utils.executor import ExecutorConfig, Shard, gpu_wanted, make_shards, map_shards

MANIFEST_KEYS = ("psnr", "psnr_object", "fit_seconds", "fit_cpu_seconds", "steps", "eval_seconds",
                 "eval_cpu_seconds", "train_views", "heldout_views", "grid_occupied",
                 "points_per_second", "fit_resolution", "device")
"""Fit statistics kept in each NeRF file's metadata and its manifest entry (``fit_resolution``:
[width, height] of the views fitted, after ``FitConfig.image_size``'s downsampling)."""


def fit_and_save(data_root: str, object_id: str, out_dir: str, nerf_overrides: dict[str, Any],
                 fit_cfg: dict[str, Any], device: str, threads: int) -> dict[str, Any]:
    """Fit one object and write ``out_dir/<object_id>.safetensors`` atomically.

    Runs in the calling process or in a worker (arguments are plain data so they pickle).
    Returns the manifest entry.
    """

    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.nerf.fit import fit_object
    from clip2nerf.nerf.io import save_nerf

    if threads > 0:
        from clip2nerf.utils.threads import set_threads

        set_threads(threads)
    record = open_dataset(data_root).get(object_id)
    nerf_config = NerfConfig(**{**nerf_overrides, "aabb": record.aabb})
    result = fit_object(record, nerf_config, FitConfig(**fit_cfg), device=device)
    stats = {k: result.stats[k] for k in MANIFEST_KEYS if k in result.stats}
    stats["device"] = str(device)
    meta = {"object_id": object_id, "class_name": record.class_name,
            "caption": record.caption, "source": "clip2nerf fit", **stats}
    path = nerf_path(Path(out_dir), object_id)
    save_nerf(path, result.field, nerf_config, result.occupancy, meta)
    return {"file": path.name, "class_name": record.class_name, **stats}


def fit_shard(shard: Shard, data_root: str, out_dir: str,
              nerf_overrides: dict[str, Any], fit_cfg: dict[str, Any], device: str,
              threads: int) -> dict[str, dict[str, Any]]:
    """Fit a shard of object ids (a Ray task): ``{object_id: manifest entry}``.

    An object whose NeRF file is already complete (written by an earlier attempt of this
    shard before it failed) is not fitted again. ``device`` may be ``auto``: it is resolved on
    the worker, which may have a GPU the driver lacks.
    """
    from clip2nerf.utils.device import resolve_device

    dev = str(resolve_device(device))
    out: dict[str, dict[str, Any]] = {}
    for oid in shard.items:
        path = nerf_path(Path(out_dir), oid)
        entry = _entry_from_file(path) if path.exists() else None
        out[oid] = entry if entry is not None else fit_and_save(
            data_root, oid, out_dir, nerf_overrides, fit_cfg, dev, threads)
    return out


def _entry_from_file(path: Path) -> dict[str, Any] | None:
    """Manifest entry from an existing NeRF file's metadata, or None if the file is unusable."""
    from clip2nerf.nerf.io import NerfFileError, load_nerf

    try:
        nf = load_nerf(path)
    except NerfFileError as exc:
        warnings.warn(f"refitting: {exc}", stacklevel=3)
        return None
    return {"file": path.name, "class_name": nf.class_name,
            **{k: nf.meta[k] for k in MANIFEST_KEYS if k in nf.meta}}


def _before_image_size(old: Any, new: dict[str, Any], data_root: str | Path,
                       object_ids: Sequence[str]) -> Any:
    """An older manifest's ``fit_config`` as today's would read it: one written before
    ``FitConfig.image_size`` fitted every view at its own size, which is what ``new``'s
    ``image_size`` does for this dataset's views when they are not larger (e.g. the synth
    presets' 64 px views of then), so such a folder resumes; otherwise it stays different."""
    if not isinstance(old, dict) or "image_size" in old or not object_ids:
        return old
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.nerf.fit import fit_downsample_factor

    intr = open_dataset(data_root).get(object_ids[0]).intrinsics
    if fit_downsample_factor(intr.width, intr.height, new["image_size"]) == 1:
        return {**old, "image_size": new["image_size"]}
    return old


def fit_dataset(data_root: str | Path, out_dir: str | Path, object_ids: Sequence[str],
                fit_config: FitConfig, nerf_overrides: dict[str, Any] | None = None,
                device: str = "cpu", workers: int = 1, threads: int = 1,
                overwrite: bool = False,
                on_done: Callable[[str, dict[str, Any], bool], None] | None = None,
                executor: ExecutorConfig | None = None, device_spec: str | None = None
                ) -> dict[str, dict[str, Any]]:
    """Fit every object in ``object_ids`` that has no valid NeRF in ``out_dir`` yet.

    Args:
        nerf_overrides: NerfConfig fields other than ``aabb`` (taken from each object).
        on_done: called as ``on_done(object_id, entry, skipped)`` after each object.
        executor: ``ray`` fits shards of objects as Ray tasks (``workers`` is then unused;
            the manifest is updated as each shard ends). With ``overwrite`` the NeRF files of
            the objects to refit are deleted first, so that a retried shard can tell its own
            finished files from old ones.
        device_spec: the ``--device`` as given (e.g. ``auto``), resolved on each Ray worker;
            default ``device``.
    Returns:
        The manifest's per-object entries for ``object_ids``.
    """
    out = _output_folder(out_dir)
    nerf_overrides = dict(nerf_overrides or {})
    header = {"dataset": str(Path(data_root).resolve()),
              "nerf_config": {**NerfConfig(**nerf_overrides).to_dict(), "aabb": "per object"},
              "fit_config": dataclasses.asdict(fit_config)}
    objects = _resumed_entries(out, header, overwrite, data_root, object_ids)
    todo: list[str] = []
    for oid in object_ids:
        path = nerf_path(out, oid)
        entry = None if overwrite or not path.exists() else _entry_from_file(path)
        if entry is None:
            todo.append(oid)
            objects.pop(oid, None)
        else:
            objects[oid] = {**objects.get(oid, {}), **entry}
            if on_done:
                on_done(oid, objects[oid], True)
    manifest = _Manifest(out, header, objects, on_done)
    manifest.write()
    args = (nerf_overrides, dataclasses.asdict(fit_config), device, threads)
    if executor is not None and executor.kind != "local":
        if overwrite:
            for oid in todo:
                nerf_path(out, oid).unlink(missing_ok=True)
        shard_args = (str(data_root), str(out), nerf_overrides, dataclasses.asdict(fit_config),
                      device_spec or device, threads)
        for _, entries in map_shards(fit_shard, make_shards(todo, executor.shard_size),
                                     shard_args, executor, use_gpu=gpu_wanted(shard_args[4])):
            manifest.add(entries)
    elif workers <= 1 or len(todo) <= 1:
        for oid in todo:
            manifest.add({oid: fit_and_save(str(data_root), oid, str(out), *args)})
    else:
        _fit_in_processes(todo, workers, (str(data_root), str(out)), args, manifest)
    return {oid: objects[oid] for oid in object_ids}


def _output_folder(out_dir: str | Path) -> Path:
    """``--out`` as a folder, made if missing, without the temporary files of a killed run."""
    from clip2nerf.utils.io import remove_stale_temps

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, expected a folder")
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # left by a run killed while writing a NeRF or the manifest
    return out


def _resumed_entries(out: Path, header: dict[str, Any], overwrite: bool,
                     data_root: str | Path, object_ids: Sequence[str]
                     ) -> dict[str, dict[str, Any]]:
    """The entries of ``out``'s manifest to resume from (none with ``overwrite`` or without a
    manifest); refuses a folder fitted with other settings."""
    old = read_manifest(out)
    if old is None or overwrite:
        return {}
    old = {**old, "fit_config": _before_image_size(old.get("fit_config"), header["fit_config"],
                                                   data_root, object_ids)}
    for key in ("nerf_config", "fit_config"):
        if old.get(key) != header[key]:
            raise UserError(
                f"{out} holds NeRFs fitted with another {key.replace('_', ' ')} "
                f"({old.get(key)}); resume with the same options, pass --overwrite "
                "to refit, or choose another --out")
    return dict(old.get("objects", {}))


@dataclasses.dataclass
class _Manifest:
    """The manifest being written: rewritten as fits end, each reported to ``on_done``."""

    out: Path
    header: dict[str, Any]
    objects: dict[str, dict[str, Any]]
    on_done: Callable[[str, dict[str, Any], bool], None] | None

    def write(self) -> None:
        write_manifest(self.out, self.header, self.objects)

    def add(self, entries: dict[str, dict[str, Any]]) -> None:
        """Entries of objects just fitted (one, or a Ray shard's)."""
        self.objects.update(entries)
        self.write()
        if self.on_done:
            for oid, entry in entries.items():
                self.on_done(oid, entry, False)


def _fit_in_processes(todo: list[str], workers: int, roots: tuple[str, str],
                      args: tuple[Any, ...], manifest: _Manifest) -> None:
    """``fit_and_save`` of ``todo`` in ``workers`` spawned processes, recorded as each ends."""
    import multiprocessing as mp

    ex = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    try:
        pending: dict[Future[dict[str, Any]], str] = {
            ex.submit(fit_and_save, roots[0], oid, roots[1], *args): oid for oid in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                oid = pending.pop(fut)
                manifest.add({oid: fut.result()})
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
