"""A NeRF catalogue on disk: versioned, updated atomically, read live.

The store below ``clip2nerf serve`` and ``clip2nerf catalogue``::

    Catalogue(workdir)                 paths, models and versions of one catalogue (store.py)
    LiveCatalogue(catalogue)           the version a reader answers from, following CURRENT
    add_nerfs(workdir, files)          atomic updates (updates.py), built from exact row
    remove_ids(workdir, ids)           tables embedded in shards (rows.py)
    view_png(catalogue, file, view)    rendered views, cached on disk (views.py)
"""

from clip2nerf.catalogue.store import (
    Catalogue,
    CatalogueModels,
    CatalogueVersion,
    LiveCatalogue,
    gallery_vectors,
    valid_id,
)
from clip2nerf.catalogue.updates import AddReport, add_nerfs, remove_ids
from clip2nerf.catalogue.views import N_ORBIT_VIEWS, ViewSettings, png_bytes, view_png

__all__ = [
    "N_ORBIT_VIEWS",
    "AddReport",
    "Catalogue",
    "CatalogueModels",
    "CatalogueVersion",
    "LiveCatalogue",
    "ViewSettings",
    "add_nerfs",
    "gallery_vectors",
    "png_bytes",
    "remove_ids",
    "valid_id",
    "view_png",
]
