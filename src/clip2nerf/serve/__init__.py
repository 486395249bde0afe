"""``clip2nerf serve``: an HTTP API and a web page over a live, atomically updated catalogue.

The catalogue itself (versions, updates, rendered views) is :mod:`clip2nerf.catalogue`.

    load_service_models(catalogue)         VLM, nf2vec, mappers, prompts, loaded once
    create_app(workdir, models=None)       the FastAPI app (needs the ``serve`` extra)
"""

from clip2nerf.serve.models import ServiceModels, load_service_models


def create_app(*args, **kwargs):
    """See :func:`clip2nerf.serve.app.create_app` (imported lazily: FastAPI is optional)."""
    from clip2nerf.serve.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = [
    "ServiceModels",
    "create_app",
    "load_service_models",
]
