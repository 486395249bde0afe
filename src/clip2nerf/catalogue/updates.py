"""Atomic catalogue updates: add NeRF files (or embeddings tables), remove ids.

Each update holds the catalogue's write lock, builds the new version's gallery from exact
row tables (:mod:`clip2nerf.catalogue.rows`) and publishes it with
:meth:`~clip2nerf.catalogue.store.Catalogue.publish` (a complete version folder, then one
atomic switch of ``CURRENT``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clip2nerf.catalogue import rows as rows_mod
from clip2nerf.catalogue.store import BASE_VERSION, Catalogue, CatalogueVersion
from clip2nerf.catalogue.views import ViewSettings, view_png
from clip2nerf.errors import UserError
from clip2nerf.index.gallery import Gallery
from clip2nerf.utils.executor import ExecutorConfig

if TYPE_CHECKING:
    from clip2nerf.nf2vec import Nf2vec


@dataclass
class AddReport:
    """What an update did: the version it published, the ids it added, the size after it."""

    version: str
    added: list[str]
    size: int


def _empty_gallery(nf2vec: Nf2vec) -> Gallery:
    import faiss

    return Gallery(faiss.IndexFlatIP(nf2vec.config.encoder.embed_dim), [], [], nf2vec.space)


def add_nerfs(workdir: str | Path, sources: Sequence[str | Path], nf2vec: Nf2vec | None = None,
              device: str = "cpu", thumbnails: bool = True,
              view_settings: ViewSettings | None = None,
              log: Callable[[str], None] = lambda m: None,
              executor: ExecutorConfig | None = None) -> AddReport:
    """Embed NeRF files (or folders of them) with the catalogue's nf2vec model and add them.

    Refused, naming the file: another NeRF architecture, NaN/inf weights, an unreadable file,
    an id already in the catalogue, and embedding tables of another nf2vec space (an
    ``EmbeddingTable`` file of the catalogue's own space is added as it is).

    The files are embedded in shards on ``executor`` (an ``ExecutorConfig``; default: here,
    64 files per shard), each shard's rows written to a staged table; the new version is
    built from exact rows in one streaming pass (see :mod:`clip2nerf.catalogue.rows`).
    """
    # nf2vec loads torch: imported only when an update runs
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.nf2vec.nerfs import find_nerf_files

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
        new_ids = rows_mod.new_entries(staged, entries)
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


def _render_thumbnails(cat: Catalogue, entries: list[dict[str, Any]], device: str,
                       settings: ViewSettings | None = None) -> None:
    """View 0 of each new NeRF, so the first search showing it finds it cached."""
    for e in entries:
        path = cat.nerf_file(e)
        if path is not None:
            view_png(cat, path, 0, device=device, settings=settings or ViewSettings())
