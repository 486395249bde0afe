"""Routes of one catalogue NeRF: its metadata and rendered views (OpenAPI tag ``catalogue``)."""

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response

from clip2nerf.catalogue import N_ORBIT_VIEWS, CatalogueVersion, LiveCatalogue, view_png
from clip2nerf.serve import limits
from clip2nerf.serve.routes import PNG_ANSWER
from clip2nerf.serve.state import CatalogueDep, LiveDep, ModelsDep, ViewSettingsDep

router = APIRouter(tags=["catalogue"])


def entry_of(live: LiveCatalogue, object_id: str) -> tuple[CatalogueVersion, dict[str, Any]]:
    """The current version and ``object_id``'s entry in it (404 if it is not there)."""
    limits.check_id(object_id)
    version = live.get()
    entry = version.entries.get(object_id)
    if entry is None:
        raise limits.BadRequest(f"id {object_id!r} is not in the catalogue "
                                f"(version {version.name})", 404)
    return version, entry


@router.get("/api/nerfs/{object_id}")
def nerf_info(object_id: str, live: LiveDep, catalogue: CatalogueDep):
    """One entry's class, caption, date added, file and view URLs."""
    version, entry = entry_of(live, object_id)
    has_file = catalogue.nerf_file(entry) is not None
    return {"id": object_id, "class": entry.get("class"), "caption": entry.get("caption"),
            "added": entry.get("added"), "version": version.name,
            "file": Path(str(entry["source"])).name if has_file else None,
            "views": [f"/api/nerfs/{object_id}/views/{i}.png" for i in range(N_ORBIT_VIEWS)]
            if has_file else []}


@router.get("/api/nerfs/{object_id}/views/{view}.png", response_class=Response,
            responses=PNG_ANSWER)
def nerf_view(object_id: str, view: int, live: LiveDep, catalogue: CatalogueDep,
              models: ModelsDep, settings: ViewSettingsDep):
    """Orbit view ``view`` of an entry's NeRF (0 is the thumbnail), rendered once and cached."""
    _, entry = entry_of(live, object_id)
    if not 0 <= view < N_ORBIT_VIEWS:
        raise limits.BadRequest(f"view {view}: must be from 0 to {N_ORBIT_VIEWS - 1}", 404)
    path = catalogue.nerf_file(entry)
    if path is None:
        raise limits.BadRequest(f"id {object_id!r}: its NeRF file is not in the catalogue "
                                "folder, so it cannot be rendered", 404)
    # No model lock: rendering reads only this NeRF file (a fresh field per call).
    png = view_png(catalogue, path, view, device=models.device, settings=settings)
    return Response(png, media_type="image/png",
                    headers={"Cache-Control": "public, max-age=3600"})
