"""``clip2nerf serve``: an HTTP API and a web page over a live, atomically updated catalogue.

    Catalogue(workdir)                     paths, models and versions of one catalogue
    add_nerfs(workdir, files) / remove_ids(workdir, ids)   atomic updates (new version + switch)
    LiveCatalogue(catalogue)               the version a server answers from (follows CURRENT)
    load_service_models(catalogue)         VLM, nf2vec, mappers, prompts, loaded once
    create_app(workdir, models=None)       the FastAPI app (needs the ``serve`` extra)
"""

from clip2nerf.serve.catalogue import (
    Catalogue,
    CatalogueModels,
    CatalogueVersion,
    LiveCatalogue,
    add_nerfs,
    remove_ids,
)
from clip2nerf.serve.models import ServiceModels, load_service_models


def create_app(*args, **kwargs):
    """See :func:`clip2nerf.serve.app.create_app` (imported lazily: FastAPI is optional)."""
    from clip2nerf.serve.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = [
    "Catalogue",
    "CatalogueModels",
    "CatalogueVersion",
    "LiveCatalogue",
    "ServiceModels",
    "add_nerfs",
    "create_app",
    "load_service_models",
    "remove_ids",
]
