"""What the routes read: the service's loaded state on ``app.state``, through dependencies.

``create_app`` stores the state once (``attach``); a route asks for what it needs by naming
one of the annotated types below as a parameter (``live: LiveDep``), and FastAPI calls the
matching ``get_*`` function for each request. The routes therefore stay plain module-level
functions, and a test can swap any piece with ``app.dependency_overrides``.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

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


def state_getter(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency that returns ``app.state.<name>``: async, since one attribute read needs no
    thread-pool hop. Each getter below is a module-level name so that a test can override it."""

    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"get_{name}"
    return get


get_catalogue = state_getter("catalogue")
"""The served ``Catalogue`` (its folder and NeRF files)."""
get_live = state_getter("live")
"""The ``LiveCatalogue``; a route calls ``get()`` once and answers from that version."""
get_models = state_getter("models")
"""The models loaded at start-up; every model call runs inside their ``compute()``."""
get_model_paths = state_getter("model_paths")
"""The catalogue's model folders as they were when the models were loaded."""
get_view_settings = state_getter("view_settings")
"""Resolution and ray samples of rendered and generated views."""
get_classifier = state_getter("classifier")
"""The zero-shot classifier (``clip2nerf.apps``) over the loaded models."""

CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
LiveDep = Annotated[LiveCatalogue, Depends(get_live)]
ModelsDep = Annotated[ServiceModels, Depends(get_models)]
ModelPathsDep = Annotated[CatalogueModels, Depends(get_model_paths)]
ViewSettingsDep = Annotated[ViewSettings, Depends(get_view_settings)]
ClassifierDep = Annotated[ZeroShotClassifier, Depends(get_classifier)]
