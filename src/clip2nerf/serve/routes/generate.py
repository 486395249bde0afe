"""Generation routes: views of the NeRF a sentence or photos map to (OpenAPI tag ``generate``)."""

import numpy as np
from fastapi import APIRouter, File, Form, Response, UploadFile
from pydantic import BaseModel, ConfigDict

from clip2nerf.catalogue import ViewSettings, png_bytes
from clip2nerf.serve import limits
from clip2nerf.serve.models import ServiceModels
from clip2nerf.serve.routes import PNG_ANSWER
from clip2nerf.serve.state import ModelsDep, ViewSettingsDep
from clip2nerf.utils import bounds

router = APIRouter(tags=["generate"])


class GenerateQuery(BaseModel):
    """The JSON body of ``POST /api/generate/text``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    text: str
    views: bounds.SERVE_VIEWS.field = 4


def views_strip(views: np.ndarray) -> np.ndarray:
    """(n, H, W, 4) views side by side as one (H, n*W, 4) image."""
    return np.concatenate(list(views), axis=1)


def generate_png(models: ServiceModels, settings: ViewSettings, text: str | None,
                 images: list[np.ndarray] | None, n_views: int) -> Response:
    """Generated views as one PNG strip (``clip2nerf.apps.generate``), header ``X-Views``."""
    from clip2nerf.apps import generate

    with models.compute():
        gen = generate(models.nf2vec, models.clip2nerf, models.vlm, text=text,
                       images=images, n_views=n_views, resolution=settings.resolution,
                       n_samples=settings.n_samples, device=models.device)
    return Response(png_bytes(views_strip(gen.views)), media_type="image/png",
                    headers={"X-Views": str(n_views)})


@router.post("/api/generate/text", response_class=Response, responses=PNG_ANSWER)
def generate_text(q: GenerateQuery, models: ModelsDep, settings: ViewSettingsDep):
    """Views of the NeRF a sentence maps to."""
    return generate_png(models, settings, limits.check_text(q.text), None, q.views)


@router.post("/api/generate/images", response_class=Response, responses=PNG_ANSWER)
def generate_images(models: ModelsDep, settings: ViewSettingsDep,
                    files: list[UploadFile] = File(...), views: int = Form(4, **bounds.SERVE_VIEWS.limits)):
    """Views of the NeRF photos of one object map to."""
    return generate_png(models, settings, None, limits.load_upload_images(files), views)
