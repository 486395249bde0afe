"""Routes about the service itself: liveness, what is served, reload (OpenAPI tag ``service``)."""

from typing import Any

from fastapi import APIRouter

from clip2nerf.serve import limits
from clip2nerf.serve.state import CatalogueDep, LiveDep, ModelPathsDep, ModelsDep

router = APIRouter(tags=["service"])


@router.get("/api/health")
def health(live: LiveDep) -> dict[str, Any]:
    """Liveness, and the catalogue version served."""
    version = live.get()
    return {"status": "ok", "version": version.name, "size": len(version)}


@router.get("/api/catalogue")
def catalogue_info(live: LiveDep, catalogue: CatalogueDep, models: ModelsDep,
                   model_paths: ModelPathsDep) -> dict[str, Any]:
    """Version, size, models, VLM, classes, gallery and the request limits."""
    version = live.get()
    m = model_paths
    g = version.gallery
    return {"version": version.name, "size": len(version), "workdir": catalogue.workdir.name,
            "vlm": models.vlm.name, "vlm_space": models.vlm.space,
            "nf2vec_space": models.nf2vec.space,
            "models": {"nf2vec": m.nf2vec, "clip2nerf": m.clip2nerf,
                       "nerf2clip": m.nerf2clip, "vlm": m.vlm},
            "classes": models.classes,
            "gallery": {"kind": g.config.kind, "dim": g.dim},
            "limits": {"max_k": limits.MAX_K, "max_text_chars": limits.MAX_TEXT_CHARS,
                       "max_images": limits.MAX_IMAGES,
                       "max_image_bytes": limits.MAX_IMAGE_BYTES,
                       "max_image_pixels": limits.MAX_IMAGE_PIXELS,
                       "max_nerf_bytes": limits.MAX_NERF_BYTES}}


@router.post("/api/reload")
def reload(live: LiveDep) -> dict[str, Any]:
    """Look at the catalogue's CURRENT now (every request also does)."""
    version = live.reload()
    return {"version": version.name, "size": len(version)}
