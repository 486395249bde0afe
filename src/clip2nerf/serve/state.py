"""What the routes read: the service's loaded state on ``app.state``, through dependencies.

``create_app`` stores the state once (``attach``); a route asks for what it needs by naming
one of the annotated types below as a parameter (``live: LiveDep``), and FastAPI calls the
matching ``get_*`` function for each request. The routes therefore stay plain module-level
functions, and a test can swap any piece with ``app.dependency_overrides``.
"""

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from clip2nerf.apps.classify import ZeroShotClassifier
from clip2nerf.catalogue import Catalogue, CatalogueModels, LiveCatalogue, ViewSettings
from clip2nerf.serve.models import ServiceModels


def attach(app: FastAPI, catalogue: Catalogue, live: LiveCatalogue, models: ServiceModels,
           view_settings: ViewSettings) -> None:
    """Store the loaded state on ``app.state`` (``app.state.live`` is also read by the CLI)."""
    app.state.catalogue = catalogue
    app.state.live = live
    app.state.models = models
    # Read once at start-up, as the models themselves are: /api/catalogue reports what is served.
    app.state.model_paths = catalogue.models()
    app.state.view_settings = view_settings
    # The apps layer's classifier over the loaded models and the prompts computed with them.
    app.state.classifier = ZeroShotClassifier(models.nf2vec, models.nerf2clip, models.vlm,
                                              models.classes, device=models.device,
                                              prompts=models.prompts)


# The getters are async: each is one attribute read, so they need no thread-pool hop.
async def get_catalogue(request: Request) -> Catalogue:
    """The served ``Catalogue`` (its folder and NeRF files)."""
    return request.app.state.catalogue


async def get_live(request: Request) -> LiveCatalogue:
    """The ``LiveCatalogue``; a route calls ``get()`` once and answers from that version."""
    return request.app.state.live


async def get_models(request: Request) -> ServiceModels:
    """The models loaded at start-up; every model call runs inside their ``compute()``."""
    return request.app.state.models


async def get_model_paths(request: Request) -> CatalogueModels:
    """The catalogue's model folders as they were when the models were loaded."""
    return request.app.state.model_paths


async def get_view_settings(request: Request) -> ViewSettings:
    """Resolution and ray samples of rendered and generated views."""
    return request.app.state.view_settings


async def get_classifier(request: Request) -> ZeroShotClassifier:
    """The zero-shot classifier (``clip2nerf.apps``) over the loaded models."""
    return request.app.state.classifier


CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
LiveDep = Annotated[LiveCatalogue, Depends(get_live)]
ModelsDep = Annotated[ServiceModels, Depends(get_models)]
ModelPathsDep = Annotated[CatalogueModels, Depends(get_model_paths)]
ViewSettingsDep = Annotated[ViewSettings, Depends(get_view_settings)]
ClassifierDep = Annotated[ZeroShotClassifier, Depends(get_classifier)]
