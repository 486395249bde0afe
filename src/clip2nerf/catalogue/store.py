"""A servable NeRF catalogue on disk, with atomic, versioned updates.

A catalogue lives in a workdir ``W`` (a finished ``clip2nerf demo`` workdir is one; its
layout: ``clip2nerf.workdir``)::

    W/nf2vec/  W/vlm/  W/mappers/...   the models (paths in W/catalogue/catalogue.json, or the
                                       demo's layout when that file is absent)
    W/gallery/                         the demo's faiss gallery: version 0, read as it is
    W/catalogue/catalogue.json         which models the catalogue uses (optional for a demo)
    W/catalogue/CURRENT                one line: the name of the live version, e.g. v000003
    W/catalogue/versions/v000003/      a gallery folder (index.faiss + gallery.json); its
                                       ``extra["entries"]`` holds each NeRF's file, class and
                                       caption
    W/catalogue/nerfs/                 NeRF files added by ``clip2nerf catalogue add`` (copies,
                                       named by content hash, so ids never name files)
    W/catalogue/thumbs/                cached rendered views

An update (``add_nerfs``, ``remove_ids`` in :mod:`clip2nerf.catalogue.updates`) writes a
complete new version folder with ``Gallery.save`` (itself temp folder + rename), then replaces
``CURRENT`` atomically (:meth:`Catalogue.publish`: temp file, fsync, rename). A crash or ``kill -9`` at any point leaves ``CURRENT`` naming the
previous, complete version; at worst an unused temp folder or NeRF copy is left behind.
Writers take an exclusive ``flock`` on ``W/catalogue/.lock`` (released by the kernel when a
writer dies). Readers (:class:`LiveCatalogue`) stat ``CURRENT`` per request and load a new
version once, off to the side, before swapping one reference: a request sees one whole
version, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.classes import CLASSES
from clip2nerf.data.dataset import DATASET_FILE
from clip2nerf.errors import UserError
from clip2nerf.index.gallery import Gallery
from clip2nerf.utils.io import atomic_write_json, atomic_write_text, read_json
from clip2nerf.utils.pretrained import check_format_version
from clip2nerf.utils.validate import NonEmpty, parse, schema
from clip2nerf.workdir import CATALOGUE as CATALOGUE_DIR  # noqa: F401 (its former name)
from clip2nerf.workdir import MAPPERS, SEARCH_MAPPER, Workdir, nerf2clip_spec

CONFIG_NAME = "catalogue.json"
POINTER_NAME = "CURRENT"
VERSIONS_DIR = "versions"
NERF_COPIES_DIR = "nerfs"
THUMBS_DIR = "thumbs"
LOCK_NAME = ".lock"
CATALOGUE_FORMAT = "clip2nerf-catalogue"
BASE_VERSION = "v000000"
"""The demo's own ``W/gallery``, served as it is until the first update."""
KEEP_OLD_VERSIONS = 2
"""Finished versions kept beside the live one (older ones are deleted after an update)."""

ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
"""The characters of a catalogue id (see :func:`valid_id`)."""

_VERSION_RE = re.compile(r"^v(\d{6,})$")


def valid_id(object_id: object) -> bool:
    """A catalogue id: plain characters only and not '.' or '..', so it can never name a path."""
    return (isinstance(object_id, str) and bool(ID_PATTERN.match(object_id))
            and object_id not in (".", ".."))


@schema
@dataclass
class CatalogueModels:
    """Where a catalogue's models are: paths relative to the workdir (or absolute)."""

    nf2vec: NonEmpty = "nf2vec"
    clip2nerf: NonEmpty = f"{MAPPERS}/{SEARCH_MAPPER.folder_name}"
    nerf2clip: NonEmpty = f"{MAPPERS}/{nerf2clip_spec('gt', 12).folder_name}"
    vlm: NonEmpty = "vlm"
    """A ``--vlm`` spec: a model folder (relative to the workdir), ``offline`` or a hub id."""
    classes: list[str] = field(default_factory=list)
    """Zero-shot classes; empty = the dataset's classes, else the paper's 13."""

    def to_dict(self) -> dict[str, Any]:
        """The ``catalogue.json`` form (format tag and version included)."""
        return {"format": CATALOGUE_FORMAT, "version": 1, "nf2vec": self.nf2vec,
                "clip2nerf": self.clip2nerf, "nerf2clip": self.nerf2clip, "vlm": self.vlm,
                "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> CatalogueModels:
        """The schema of ``catalogue.json``: format and version checked, then the model
        folders' schema (``clip2nerf.utils.validate.parse``: types checked, unknown keys
        named)."""
        if not isinstance(d, dict) or d.get("format") != CATALOGUE_FORMAT:
            raise UserError(f"{where} is not a clip2nerf catalogue description")
        check_format_version(d.get("version", 1), 1, where, "catalogue description")
        return parse(cls, {k: v for k, v in d.items() if k not in ("format", "version")}, "",
                     UserError, where=where)


@dataclass
class CatalogueVersion:
    """One complete, immutable state of the catalogue."""

    name: str
    gallery: Gallery
    entries: dict[str, dict[str, Any]]
    """id -> {"class", "caption", "source" (relative to the workdir when inside it), "added"}."""

    def __len__(self) -> int:
        return len(self.entries)


class Catalogue:
    """Paths and the read/write operations of one catalogue workdir."""

    def __init__(self, workdir: str | Path):
        self.workdir = Path(workdir).resolve()
        if not self.workdir.is_dir():
            raise UserError(f"--workdir {workdir}: no such folder (run `clip2nerf demo` first)")
        self.layout = Workdir(self.workdir)
        self.root = self.layout.catalogue

    # -- paths ---------------------------------------------------------------------------
    @property
    def pointer(self) -> Path:
        """``W/catalogue/CURRENT``: the name of the live version."""
        return self.root / POINTER_NAME

    @property
    def versions(self) -> Path:
        """``W/catalogue/versions``: one gallery folder per version."""
        return self.root / VERSIONS_DIR

    @property
    def thumbs(self) -> Path:
        """``W/catalogue/thumbs``: the cache of rendered views."""
        return self.root / THUMBS_DIR

    def resolve(self, rel: str) -> Path:
        """A path of catalogue.json / an entry: relative ones are under the workdir."""
        p = Path(rel).expanduser()
        return p if p.is_absolute() else self.workdir / p

    def relative(self, path: Path) -> str:
        """``path`` relative to the workdir when inside it, else absolute (as entries store it)."""
        path = path.resolve()
        return str(path.relative_to(self.workdir)) if path.is_relative_to(self.workdir) \
            else str(path)

    # -- models --------------------------------------------------------------------------
    def models(self) -> CatalogueModels:
        """catalogue.json, or the demo layout (the mappers its tour uses)."""
        path = self.root / CONFIG_NAME
        if path.is_file():
            return CatalogueModels.from_dict(read_json(path, "catalogue description"), str(path))
        m = CatalogueModels()
        w = self.layout
        n2c = w.nerf2clip_most_views("gt")  # the most views: the demo tour's choice
        if n2c is not None:
            m.nerf2clip = self.relative(w.mapper(n2c))
        if not (self.workdir / m.clip2nerf).is_dir():
            c2n = [s for s in w.mapper_specs() if s.direction == "clip2nerf"]
            if c2n:
                m.clip2nerf = self.relative(w.mapper(c2n[0]))
        missing = [f"{n} ({self.workdir / getattr(m, n)})" for n in ("nf2vec", "clip2nerf",
                                                                     "nerf2clip")
                   if not (self.workdir / getattr(m, n)).is_dir()]
        if missing:
            raise UserError(f"--workdir {self.workdir} is not a servable catalogue: missing "
                            f"{', '.join(missing)}; finish `clip2nerf demo --workdir "
                            f"{self.workdir}` or write {path}")
        return m

    def write_models(self, models: CatalogueModels) -> None:
        """Write ``catalogue.json`` atomically."""
        atomic_write_json(self.root / CONFIG_NAME, models.to_dict())

    def classes(self, models: CatalogueModels) -> list[str]:
        """The zero-shot classes: ``models.classes``, else the dataset's, else the paper's 13."""
        if models.classes:
            return list(models.classes)
        if (self.layout.data / DATASET_FILE).is_file():
            from clip2nerf.data.layouts import open_dataset

            classes = open_dataset(self.layout.data).classes
            if classes:
                return list(classes)
        return list(CLASSES)

    # -- versions ------------------------------------------------------------------------
    def current_name(self) -> str:
        """The live version's name (``v000000`` = the demo gallery, before any update)."""
        try:
            name = self.pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return BASE_VERSION
        if not _VERSION_RE.match(name):
            raise UserError(f"{self.pointer}: not a version name ({name[:40]!r})")
        return name

    def has_version(self) -> bool:
        """Whether there is anything to serve yet (an update, or the demo's gallery)."""
        return self.pointer.is_file() or (self.layout.gallery / "gallery.json").is_file()

    def pointer_stamp(self) -> tuple[int, int, int] | None:
        """A cheap fingerprint of CURRENT (inode, size, mtime): it changes on every switch."""
        try:
            st = os.stat(self.pointer)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def load_version(self, name: str | None = None) -> CatalogueVersion:
        """Read a whole version (the live one by default)."""
        name = name or self.current_name()
        if name == BASE_VERSION:
            folder = self.layout.gallery
            if not (folder / "gallery.json").is_file():
                raise UserError(f"--workdir {self.workdir}: no gallery ({folder}); finish "
                                "`clip2nerf demo` or add NeRFs with `clip2nerf catalogue add`")
            gallery = Gallery.load(folder)
            return CatalogueVersion(name, gallery, self._base_entries(gallery))
        gallery = Gallery.load(self.versions / name)
        entries = gallery.extra.get("entries")
        if not isinstance(entries, dict) or set(entries) != set(gallery.ids):
            raise UserError(f"{self.versions / name}: catalogue entries do not match the gallery")
        return CatalogueVersion(name, gallery, entries)

    def _base_entries(self, gallery: Gallery) -> dict[str, dict[str, Any]]:
        """Entries of the demo gallery: its recorded sources, classes and dataset captions."""
        from clip2nerf.nerf.manifest import nerf_path  # clip2nerf.nerf loads torch

        sources = gallery.extra.get("sources") or {}
        captions: dict[str, str] = {}
        if (self.layout.data / DATASET_FILE).is_file():
            from clip2nerf.data.layouts import open_dataset

            ds = open_dataset(self.layout.data)
            for oid in gallery.ids:
                with contextlib.suppress(Exception):
                    cap = ds.get(oid).caption
                    if cap:
                        captions[oid] = str(cap)
        entries: dict[str, dict[str, Any]] = {}
        for oid, label in zip(gallery.ids, gallery.labels, strict=True):
            src = sources.get(oid)
            candidates = [self.resolve(src)] if src else []
            candidates.append(nerf_path(self.layout.nerfs, oid))
            # only files inside the workdir are served (see nerf_file)
            path = next((c for c in candidates
                         if c.resolve().is_relative_to(self.workdir) and c.is_file()), None)
            entries[oid] = {"class": label, "caption": captions.get(oid),
                            "source": self.relative(path) if path else None, "added": None}
        return entries

    def nerf_file(self, entry: dict[str, Any]) -> Path | None:
        """An entry's NeRF file, only if it lies inside the workdir (never elsewhere)."""
        src = entry.get("source")
        if not src:
            return None
        path = self.resolve(str(src)).resolve()
        if not path.is_relative_to(self.workdir) or not path.is_file():
            return None
        return path

    # -- updates -------------------------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time (flock: a killed writer's lock goes with it)."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_NAME, "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(f"another catalogue update holds {self.root / LOCK_NAME}; "
                                "wait for it to finish") from None
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _next_name(self, current: str) -> str:
        existing = [int(m.group(1)) for p in self.versions.glob("v*")
                    if (m := _VERSION_RE.match(p.name))] if self.versions.is_dir() else []
        n = max([int(current[1:]), *existing]) + 1
        return f"v{n:06d}"

    def publish(self, gallery: Gallery) -> str:
        """Save a built gallery as the next version and switch CURRENT to it."""
        name = self._next_name(self.current_name())
        self.versions.mkdir(parents=True, exist_ok=True)
        gallery.save(self.versions / name)           # temp folder + rename
        atomic_write_text(self.pointer, name + "\n")  # the switch: temp file + rename
        self._prune(name)
        return name

    def _prune(self, live: str) -> None:
        done = sorted((p for p in self.versions.iterdir() if _VERSION_RE.match(p.name)),
                      key=lambda p: int(p.name[1:]))
        for old in [p for p in done if p.name != live][:-KEEP_OLD_VERSIONS or None]:
            shutil.rmtree(old, ignore_errors=True)
        for tmp in self.versions.glob(".v*.tmp"):  # left by a killed update
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)


def gallery_vectors(gallery: Gallery) -> np.ndarray:
    """(n, d) float32 rows of a gallery's faiss index (flat, or IVF via a direct map)."""
    import faiss

    index = gallery.index
    if index.ntotal == 0:
        return np.zeros((0, index.d), np.float32)
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()
    return np.asarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)


class LiveCatalogue:
    """The version a server answers from; follows CURRENT without a restart.

    ``get()`` costs one ``os.stat`` when nothing changed. When CURRENT changed, one thread
    loads the new version completely, then swaps the reference; other requests keep the old
    version meanwhile. A version that cannot be loaded (e.g. pruned under a very fast
    sequence of updates) is logged and the previous one kept.
    """

    def __init__(self, catalogue: Catalogue, log: Callable[[str], None] = print):
        self.catalogue = catalogue
        self.log = log
        self._lock = threading.Lock()
        self._stamp = catalogue.pointer_stamp()
        self._version = catalogue.load_version()

    @property
    def version(self) -> CatalogueVersion:
        """The version loaded last (without looking at CURRENT)."""
        return self._version

    def get(self) -> CatalogueVersion:
        """The live version: the one loaded, or the new one when CURRENT changed."""
        stamp = self.catalogue.pointer_stamp()
        if stamp != self._stamp:
            self.reload(stamp)
        return self._version

    def reload(self, stamp: tuple[int, int, int] | None = None) -> CatalogueVersion:
        """Look at CURRENT now and load the version it names if it is not the one served."""
        with self._lock:
            stamp = stamp if stamp is not None else self.catalogue.pointer_stamp()
            try:
                name = self.catalogue.current_name()
                if name != self._version.name:
                    new = self.catalogue.load_version(name)
                    self._version = new  # one reference swap: requests see old or new
                    self.log(f"catalogue: now serving {name} ({len(new)} NeRFs)")
                self._stamp = stamp
            except (UserError, OSError) as exc:
                # Not retried per request: only when CURRENT changes again or on a reload call.
                self._stamp = stamp
                self.log(f"catalogue: keeping {self._version.name}; could not load the new "
                         f"version ({exc})")
        return self._version
