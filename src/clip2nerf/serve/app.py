"""The FastAPI app: an HTTP API and a web page over one live catalogue.

Endpoints (OpenAPI at ``/docs``)::

    GET  /api/health                      liveness + the version served
    GET  /api/catalogue                   size, version, models, VLM, classes, limits
    POST /api/reload                      look at CURRENT now (also done on every request)
    GET  /api/search?text=..&k=5          text search (also POST /api/search/text, JSON)
    POST /api/search/images               multipart ``files`` (1..16 views of one object), ``k``
    POST /api/classify                    multipart ``file``: a NeRF file -> label + scores
    POST /api/generate/text               JSON {text, views} -> PNG strip of decoded views
    POST /api/generate/images             multipart ``files``, ``views`` -> PNG strip
    GET  /api/nerfs/{id}                  metadata of one catalogue NeRF
    GET  /api/nerfs/{id}/views/{i}.png    rendered view i (0 = thumbnail), cached on disk

Every model call runs inside ``ServiceModels.compute()``; every request reads the catalogue
version once (``LiveCatalogue.get``) and answers from that version only. Input errors are JSON
``{"error": message}`` with a 4xx status.

The routes live in :mod:`clip2nerf.serve.routes` (one router per OpenAPI tag), the state they
read in :mod:`clip2nerf.serve.state`, the error answers in :mod:`clip2nerf.serve.handlers`;
this module puts them together.
"""


import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from clip2nerf.catalogue import Catalogue, LiveCatalogue, ViewSettings
from clip2nerf.errors import UserError
from clip2nerf.serve import limits, state
from clip2nerf.serve.body_limit import BodySizeLimit
from clip2nerf.serve.handlers import add_error_handlers
from clip2nerf.serve.models import ServiceModels, load_service_models
from clip2nerf.serve.routes import classify, generate, nerfs, page, search, service
from clip2nerf.serve.routes.page import STATIC_DIR

log = logging.getLogger("clip2nerf.serve")

ROUTERS = (service.router, search.router, classify.router, generate.router, nerfs.router,
           page.router)
"""The routers of the app, in the order OpenAPI lists their routes."""


def create_app(workdir: str | Path, models: ServiceModels | None = None, device: str = "cpu",
               lock: str = "text", view_settings: ViewSettings = ViewSettings()) -> FastAPI:
    """The app over ``workdir``'s catalogue; models load here, once (or are given).

    ``view_settings`` sets the resolution and ray samples of rendered views (tests use small ones).
    """
    catalogue = Catalogue(workdir)
    live = LiveCatalogue(catalogue, log=log.info)
    if models is None:
        models = load_service_models_for(catalogue, device, lock)
    if live.version.gallery.space != models.nf2vec.space:
        raise UserError(f"the catalogue's gallery holds {live.version.gallery.space!r} "
                        f"embeddings but its nf2vec model is {models.nf2vec.space!r}")

    app = FastAPI(title="clip2nerf", version="1",
                  description="Search, label and generate NeRFs from text and images over a "
                              "NeRF catalogue (clip2nerf / nerf2clip, nf2vec, a VLM).")
    state.attach(app, catalogue, live, models, view_settings)
    add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodySizeLimit, limit=limits.MAX_REQUEST_BYTES)
    return app


def load_service_models_for(catalogue: Catalogue, device: str, lock: str) -> ServiceModels:
    """The catalogue's models for ``create_app`` (``load_service_models`` checks ``lock``)."""
    return load_service_models(catalogue, device, lock=lock)  # type: ignore[arg-type]
