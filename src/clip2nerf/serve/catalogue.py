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

An update (:func:`add_nerfs`, :func:`remove_ids`) writes a complete new version folder with
``Gallery.save`` (itself temp folder + rename), then replaces ``CURRENT`` atomically (temp
file, fsync, rename). A crash or ``kill -9`` at any point leaves ``CURRENT`` naming the
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.serve.limits import valid_id
from clip2nerf.utils.io import atomic_write_json, atomic_write_text, read_json
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

_VERSION_RE = re.compile(r"^v(\d{6,})$")


@dataclass
class CatalogueModels:
    """Where a catalogue's models are: paths relative to the workdir (or absolute)."""

    nf2vec: str = "nf2vec"
    clip2nerf: str = f"{MAPPERS}/{SEARCH_MAPPER.folder_name}"
    nerf2clip: str = f"{MAPPERS}/{nerf2clip_spec('gt', 12).folder_name}"
    vlm: str = "vlm"
    """A ``--vlm`` spec: a model folder (relative to the workdir), ``offline`` or a hub id."""
    classes: list[str] = field(default_factory=list)
    """Zero-shot classes; empty = the dataset's classes, else the paper's 13."""

    def to_dict(self) -> dict[str, Any]:
        return {"format": CATALOGUE_FORMAT, "version": 1, "nf2vec": self.nf2vec,
                "clip2nerf": self.clip2nerf, "nerf2clip": self.nerf2clip, "vlm": self.vlm,
                "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> CatalogueModels:
        """The schema of ``catalogue.json``: format and version checked, then the model
        folders' policy (``dataclass_from_dict``: types checked, unknown keys named)."""
        from clip2nerf.utils.pretrained import check_format_version
        from clip2nerf.utils.validate import dataclass_from_dict

        if not isinstance(d, dict) or d.get("format") != CATALOGUE_FORMAT:
            raise UserError(f"{where} is not a clip2nerf catalogue description")
        check_format_version(d.get("version", 1), 1, where, "catalogue description")
        try:
            out = dataclass_from_dict(cls, {k: v for k, v in d.items()
                                            if k not in ("format", "version")}, where)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        for name in ("nf2vec", "clip2nerf", "nerf2clip", "vlm"):
            if not getattr(out, name):
                raise UserError(f"{where}: {name!r} must be a non-empty string")
        if not isinstance(out.classes, list) or not all(isinstance(c, str) for c in out.classes):
            raise UserError(f"{where}: 'classes' must be a list of strings")
        return out


@dataclass
class CatalogueVersion:
    """One complete, immutable state of the catalogue."""

    name: str
    gallery: Any  # clip2nerf.index.Gallery
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
        return self.root / POINTER_NAME

    @property
    def versions(self) -> Path:
        return self.root / VERSIONS_DIR

    @property
    def thumbs(self) -> Path:
        return self.root / THUMBS_DIR

    def resolve(self, rel: str) -> Path:
        """A path of catalogue.json / an entry: relative ones are under the workdir."""
        p = Path(rel).expanduser()
        return p if p.is_absolute() else self.workdir / p

    def relative(self, path: Path) -> str:
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
        atomic_write_json(self.root / CONFIG_NAME, models.to_dict())

    def classes(self, models: CatalogueModels) -> list[str]:
        if models.classes:
            return list(models.classes)
        if (self.layout.data / "dataset.json").is_file():
            from clip2nerf.data.layouts import open_dataset

            classes = open_dataset(self.layout.data).classes
            if classes:
                return list(classes)
        from clip2nerf.apps import default_classes

        return default_classes()

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
        from clip2nerf.index import Gallery

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

    def _base_entries(self, gallery) -> dict[str, dict[str, Any]]:
        """Entries of the demo gallery: its recorded sources, classes and dataset captions."""
        from clip2nerf.nerf.manifest import nerf_path

        sources = gallery.extra.get("sources") or {}
        captions: dict[str, str] = {}
        if (self.layout.data / "dataset.json").is_file():
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

    def publish(self, gallery: Any) -> str:
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


def _empty_gallery(nf2vec):
    import faiss

    from clip2nerf.index import Gallery

    return Gallery(faiss.IndexFlatIP(nf2vec.config.encoder.embed_dim), [], [], nf2vec.space)


def gallery_vectors(gallery) -> np.ndarray:
    """(n, d) float32 rows of a gallery's faiss index (flat, or IVF via a direct map)."""
    import faiss

    index = gallery.index
    if index.ntotal == 0:
        return np.zeros((0, index.d), np.float32)
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()
    return np.asarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)


@dataclass
class AddReport:
    version: str
    added: list[str]
    size: int


def add_nerfs(workdir: str | Path, sources: Sequence[str | Path], nf2vec=None,
              device: str = "cpu", thumbnails: bool = True, view_settings: Any = None,
              log: Callable[[str], None] = lambda m: None, executor: Any = None) -> AddReport:
    """Embed NeRF files (or folders of them) with the catalogue's nf2vec model and add them.

    Refused, naming the file: another NeRF architecture, NaN/inf weights, an unreadable file,
    an id already in the catalogue, and embedding tables of another nf2vec space (an
    ``EmbeddingTable`` file of the catalogue's own space is added as it is).

    The files are embedded in shards on ``executor`` (an ``ExecutorConfig``; default: here,
    64 files per shard), each shard's rows written to a staged table; the new version is
    built from exact rows in one streaming pass (see :mod:`clip2nerf.serve.catalogue_rows`).
    """
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.nf2vec.nerfs import find_nerf_files
    from clip2nerf.serve import catalogue_rows as rows_mod
    from clip2nerf.utils.executor import ExecutorConfig

    cat = Catalogue(workdir)
    models = cat.models()
    model_dir = cat.resolve(models.nf2vec)
    if nf2vec is None:
        nf2vec = Nf2vec.from_pretrained(model_dir, device)
    executor = executor or ExecutorConfig("local", shard_size=64)
    files: list[Path] = []
    for s in sources:
        files.extend(find_nerf_files(s))
    if not files:
        raise UserError("no NeRF files given")
    with cat.write_lock():
        current = cat.load_version() if cat.has_version() else None
        if current is None:  # a new catalogue: its first version holds only these NeRFs
            current = CatalogueVersion(BASE_VERSION, _empty_gallery(nf2vec), {})
        if current.gallery.space != nf2vec.space:
            raise UserError(f"the catalogue's gallery holds {current.gallery.space!r} embeddings "
                            f"but its nf2vec model is {nf2vec.space!r}")
        staged = rows_mod.embed_sources(cat, files, nf2vec, model_dir, device, executor, log)
        entries = dict(current.entries)
        new_ids = rows_mod.new_entries(staged, entries, valid_id)
        rows = rows_mod.version_rows(cat, current) + rows_mod.keep_rows(cat, staged)
        gallery = rows_mod.gallery_from_rows(cat, rows, entries, nf2vec.space,
                                             current.gallery.config)
        name = cat.publish(gallery)
        rows_mod.remove_staging(staged)
        rows_mod.prune_rows(cat)
    size = len(gallery)
    log(f"catalogue {cat.workdir}: added {len(new_ids)} NeRFs -> {name} ({size} in all)")
    if thumbnails:
        try:
            _render_thumbnails(cat, [entries[i] for i in new_ids], device, view_settings)
        except (UserError, OSError, RuntimeError) as exc:  # a cache: rendered again on demand
            log(f"catalogue {cat.workdir}: {name} is live, but its thumbnails failed ({exc})")
    return AddReport(name, new_ids, size)


def remove_ids(workdir: str | Path, ids: Sequence[str],
               log: Callable[[str], None] = lambda m: None) -> AddReport:
    """Remove NeRFs by id (an unknown id is refused and nothing changes)."""
    from clip2nerf.serve import catalogue_rows as rows_mod

    cat = Catalogue(workdir)
    with cat.write_lock():
        current = cat.load_version()
        unknown = [i for i in ids if i not in current.entries]
        if unknown:
            raise UserError(f"not in the catalogue: {', '.join(map(str, unknown[:10]))}")
        drop = set(ids)
        keep_ids = [i for i in current.gallery.ids if i not in drop]
        if not keep_ids:
            raise UserError("a catalogue cannot become empty; keep at least one NeRF")
        entries = {i: current.entries[i] for i in keep_ids}
        # from the exact rows (never the index's lossy reconstruction)
        gallery = rows_mod.gallery_from_rows(cat, rows_mod.version_rows(cat, current), entries,
                                             current.gallery.space, current.gallery.config)
        name = cat.publish(gallery)
        rows_mod.prune_rows(cat)
    log(f"catalogue {cat.workdir}: removed {len(drop)} NeRFs -> {name} ({len(keep_ids)} left)")
    return AddReport(name, [], len(keep_ids))


def _read_table(path: Path, space: str) -> tuple[np.ndarray, list[str], list[str]]:
    from clip2nerf.utils.embeddings import EmbeddingTable

    try:
        table = EmbeddingTable.load(path)
    except (UserError, ValueError) as exc:
        raise UserError(f"{path}: {exc}") from None
    if table.space != space:
        raise UserError(f"{path}: embeddings of {table.space!r}, but the catalogue's nf2vec "
                        f"space is {space!r}; embed the NeRFs with the catalogue's nf2vec model")
    if table.vectors.ndim != 2 or not np.isfinite(table.vectors).all():
        raise UserError(f"{path}: embeddings must be finite (n, d) vectors")
    return table.vectors, table.ids, table.labels


def _render_thumbnails(cat: Catalogue, entries: list[dict[str, Any]], device: str,
                       settings: Any = None) -> None:
    """View 0 of each new NeRF, so the first search showing it finds it cached."""
    from clip2nerf.serve.views import ViewSettings, view_png

    for e in entries:
        path = cat.nerf_file(e)
        if path is not None:
            view_png(cat, path, 0, device=device, settings=settings or ViewSettings())


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
        return self._version

    def get(self) -> CatalogueVersion:
        stamp = self.catalogue.pointer_stamp()
        if stamp != self._stamp:
            self.reload(stamp)
        return self._version

    def reload(self, stamp: Any = None) -> CatalogueVersion:
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
