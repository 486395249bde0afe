"""Search routes: the catalogue NeRFs nearest a sentence or photos (OpenAPI tag ``search``)."""

from typing import Any

import numpy as np
from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, ConfigDict

from clip2nerf.catalogue import CatalogueVersion, LiveCatalogue
from clip2nerf.serve import limits
from clip2nerf.serve.models import ServiceModels
from clip2nerf.serve.state import LiveDep, ModelsDep
from clip2nerf.utils import bounds

router = APIRouter(tags=["search"])


class TextQuery(BaseModel):
    """The JSON body of ``POST /api/search/text``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    text: str
    k: bounds.SERVE_K.field = 5


def hit_json(version: CatalogueVersion, rank: int, oid: str, score: float) -> dict[str, Any]:
    """One search result, with the URLs of the NeRF's metadata and thumbnail."""
    e = version.entries.get(oid, {})
    return {"rank": rank, "id": oid, "class": e.get("class", ""), "score": round(score, 4),
            "caption": e.get("caption"), "thumbnail": f"/api/nerfs/{oid}/views/0.png",
            "url": f"/api/nerfs/{oid}"}


def run_search(live: LiveCatalogue, models: ServiceModels, text: str | None,
               images: list[np.ndarray] | None, k: int) -> dict[str, Any]:
    """A search answer from one catalogue version, through ``clip2nerf.apps.search``."""
    from clip2nerf.apps import search

    version = live.get()
    with models.compute():
        hits = search(version.gallery, models.clip2nerf, models.vlm, text=text,
                      images=images, k=k)
    return {"version": version.name, "size": len(version),
            "query": {"text": text} if text is not None else {"images": len(images or [])},
            "results": [hit_json(version, h.rank, h.object_id, h.score) for h in hits]}


@router.get("/api/search")
def search_get(live: LiveDep, models: ModelsDep,
               text: str = Query(..., description="Text query"),
               k: int = Query(5, description=f"Results, 1..{limits.MAX_K}", **bounds.SERVE_K.limits)):
    """Text search with the query in the URL."""
    return run_search(live, models, limits.check_text(text), None, k)


@router.post("/api/search/text")
def search_text(q: TextQuery, live: LiveDep, models: ModelsDep):
    """Text search with a JSON body."""
    return run_search(live, models, limits.check_text(q.text), None, q.k)


@router.post("/api/search/images")
def search_images(live: LiveDep, models: ModelsDep,
                  files: list[UploadFile] = File(..., description="1..16 views of one "
                                                 "object (their mapped mean is the query)"),
                  k: int = Form(5, **bounds.SERVE_K.limits)):
    """Search by photos of one object: the mean of their mapped views is the query."""
    return run_search(live, models, None, limits.load_upload_images(files), k)
