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
"""


import logging
from pathlib import Path
from typing import Any

import numpy as np
from starlette.exceptions import HTTPException as _StarletteHTTPException

from clip2nerf.catalogue import (
    N_ORBIT_VIEWS,
    Catalogue,
    CatalogueVersion,
    LiveCatalogue,
    ViewSettings,
    png_bytes,
    view_png,
)
from clip2nerf.errors import UserError
from clip2nerf.serve import limits
from clip2nerf.serve.models import ServiceModels, load_service_models

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("clip2nerf.serve")


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, whether the
    client declares a Content-Length or streams chunks."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                too_big = True
            if too_big:
                return await _send_json(send, 413, "request body larger than "
                                        f"{self.limit // (1024 * 1024)} MB")
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(self.limit)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, "request body larger than "
                                 f"{self.limit // (1024 * 1024)} MB")


class _TooLarge(_StarletteHTTPException):
    """Raised inside the body stream. FastAPI's body parsing turns ordinary exceptions into a
    400 but passes HTTP exceptions through, hence the base class: a route answers 413 (and a
    plain ASGI path gets it from ``BodySizeLimit``)."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than {limit // (1024 * 1024)} MB")


def views_strip(views: np.ndarray) -> np.ndarray:
    """(n, H, W, 4) views side by side as one (H, n*W, 4) image."""
    return np.concatenate(list(views), axis=1)


async def _send_json(send, status: int, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(workdir: str | Path, models: ServiceModels | None = None, device: str = "cpu",
               lock: str = "text", view_settings: ViewSettings = ViewSettings()):
    """The app over ``workdir``'s catalogue; models load here, once (or are given).

    ``view_settings`` sets the resolution and ray samples of rendered views (tests use small ones).
    """
    from fastapi import FastAPI, File, Form, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr
    from starlette.exceptions import HTTPException as StarletteHTTPException

    catalogue = Catalogue(workdir)
    live = LiveCatalogue(catalogue, log=log.info)
    if models is None:
        models = load_service_models_for(catalogue, device, lock)
    if live.version.gallery.space != models.nf2vec.space:
        raise UserError(f"the catalogue's gallery holds {live.version.gallery.space!r} "
                        f"embeddings but its nf2vec model is {models.nf2vec.space!r}")

    model_paths = catalogue.models()
    app = FastAPI(title="clip2nerf", version="1",
                  description="Search, label and generate NeRFs from text and images over a "
                              "NeRF catalogue (clip2nerf / nerf2clip, nf2vec, a VLM).")
    app.state.catalogue = catalogue
    app.state.live = live
    app.state.models = models

    # -- errors: 4xx JSON with a message ----------------------------------------------------
    @app.exception_handler(limits.BadRequest)
    async def _bad_request(request: Request, exc: limits.BadRequest):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError):
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        # Only locations and messages: the offending input may be bytes that JSON cannot hold.
        msgs = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            msgs.append(f"{loc}: {e.get('msg', 'invalid')}")
        return JSONResponse({"error": "; ".join(msgs) or "invalid request"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("internal error on %s", request.url.path)
        return JSONResponse({"error": "internal error"}, status_code=500)

    # -- helpers ----------------------------------------------------------------------------
    def hit_json(version: CatalogueVersion, rank: int, oid: str, score: float) -> dict[str, Any]:
        e = version.entries.get(oid, {})
        return {"rank": rank, "id": oid, "class": e.get("class", ""), "score": round(score, 4),
                "caption": e.get("caption"), "thumbnail": f"/api/nerfs/{oid}/views/0.png",
                "url": f"/api/nerfs/{oid}"}

    def run_search(text: str | None, images: list[np.ndarray] | None, k: int) -> dict[str, Any]:
        from clip2nerf.apps import search

        version = live.get()
        with models.compute():
            hits = search(version.gallery, models.clip2nerf, models.vlm, text=text,
                          images=images, k=k)
        return {"version": version.name, "size": len(version),
                "query": {"text": text} if text is not None else {"images": len(images or [])},
                "results": [hit_json(version, h.rank, h.object_id, h.score) for h in hits]}

    def read_images(files: list[UploadFile]) -> list[np.ndarray]:
        if not files:
            raise limits.BadRequest("give at least one image file in 'files'")
        if len(files) > limits.MAX_IMAGES:
            raise limits.BadRequest(f"{len(files)} images; at most {limits.MAX_IMAGES} views "
                                    "per query")
        return [limits.load_upload_image(f.file.read(limits.MAX_IMAGE_BYTES + 1),
                                         f.filename or f"file {i + 1}")
                for i, f in enumerate(files)]

    def generate_png(text: str | None, images: list[np.ndarray] | None,
                     n_views: int) -> Response:
        from clip2nerf.apps import generate

        limits.check_views(n_views)
        with models.compute():
            gen = generate(models.nf2vec, models.clip2nerf, models.vlm, text=text,
                           images=images, n_views=n_views, resolution=view_settings.resolution,
                           n_samples=view_settings.n_samples, device=models.device)
        return Response(png_bytes(views_strip(gen.views)), media_type="image/png",
                        headers={"X-Views": str(n_views)})

    def entry_of(object_id: str) -> tuple[CatalogueVersion, dict[str, Any]]:
        limits.check_id(object_id)
        version = live.get()
        entry = version.entries.get(object_id)
        if entry is None:
            raise limits.BadRequest(f"id {object_id!r} is not in the catalogue "
                                    f"(version {version.name})", 404)
        return version, entry

    # -- API --------------------------------------------------------------------------------
    class TextQuery(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: StrictStr
        k: StrictInt = 5

    class GenerateQuery(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: StrictStr
        views: StrictInt = 4

    @app.get("/api/health", tags=["service"])
    def health() -> dict[str, Any]:
        version = live.get()
        return {"status": "ok", "version": version.name, "size": len(version)}

    @app.get("/api/catalogue", tags=["service"])
    def catalogue_info() -> dict[str, Any]:
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

    @app.post("/api/reload", tags=["service"])
    def reload() -> dict[str, Any]:
        version = live.reload()
        return {"version": version.name, "size": len(version)}

    @app.get("/api/search", tags=["search"])
    def search_get(text: str = Query(..., description="Text query"),
                   k: int = Query(5, description=f"Results, 1..{limits.MAX_K}")):
        return run_search(limits.check_text(text), None, limits.check_k(k))

    @app.post("/api/search/text", tags=["search"])
    def search_text(q: TextQuery):
        return run_search(limits.check_text(q.text), None, limits.check_k(q.k))

    @app.post("/api/search/images", tags=["search"])
    def search_images(files: list[UploadFile] = File(..., description="1..16 views of one "
                                                     "object (their mapped mean is the query)"),
                      k: int = Form(5)):
        limits.check_k(k)
        return run_search(None, read_images(files), k)

    @app.post("/api/classify", tags=["classify"])
    def classify(file: UploadFile = File(..., description="A NeRF file (.safetensors)")):
        from clip2nerf.nf2vec import embed_matrices
        from clip2nerf.utils.embeddings import l2_normalize

        name = file.filename or "upload"
        nerf_set = limits.load_upload_nerf(file.file.read(limits.MAX_NERF_BYTES + 1), name,
                                           models.nf2vec.config.nerf,
                                           output_padding=models.nf2vec.reads_output_padding)
        with models.compute():
            emb = embed_matrices(models.nf2vec, nerf_set.matrices, device=models.device).numpy()
            mapped = l2_normalize(models.nerf2clip.map(emb))
        sims = (mapped @ l2_normalize(models.prompts).T)[0]
        order = np.argsort(-sims)
        return {"file": name, "object_id": nerf_set.ids[0],
                "stored_class": nerf_set.classes[0], "label": models.classes[int(order[0])],
                "score": round(float(sims[order[0]]), 4),
                "scores": [{"class": models.classes[int(i)], "score": round(float(sims[i]), 4)}
                           for i in order]}

    @app.post("/api/generate/text", tags=["generate"],
              response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def generate_text(q: GenerateQuery):
        return generate_png(limits.check_text(q.text), None, q.views)

    @app.post("/api/generate/images", tags=["generate"],
              response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def generate_images(files: list[UploadFile] = File(...), views: int = Form(4)):
        return generate_png(None, read_images(files), views)

    @app.get("/api/nerfs/{object_id}", tags=["catalogue"])
    def nerf_info(object_id: str):
        version, entry = entry_of(object_id)
        has_file = catalogue.nerf_file(entry) is not None
        return {"id": object_id, "class": entry.get("class"), "caption": entry.get("caption"),
                "added": entry.get("added"), "version": version.name,
                "file": Path(str(entry["source"])).name if has_file else None,
                "views": [f"/api/nerfs/{object_id}/views/{i}.png" for i in range(N_ORBIT_VIEWS)]
                if has_file else []}

    @app.get("/api/nerfs/{object_id}/views/{view}.png", tags=["catalogue"],
             response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def nerf_view(object_id: str, view: int):
        _, entry = entry_of(object_id)
        if not 0 <= view < N_ORBIT_VIEWS:
            raise limits.BadRequest(f"view {view}: must be from 0 to {N_ORBIT_VIEWS - 1}", 404)
        path = catalogue.nerf_file(entry)
        if path is None:
            raise limits.BadRequest(f"id {object_id!r}: its NeRF file is not in the catalogue "
                                    "folder, so it cannot be rendered", 404)
        # No model lock: rendering reads only this NeRF file (a fresh field per call).
        png = view_png(catalogue, path, view, device=models.device, settings=view_settings)
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "public, max-age=3600"})

    # -- page -------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodySizeLimit, limit=limits.MAX_REQUEST_BYTES)
    return app


def load_service_models_for(catalogue: Catalogue, device: str, lock: str) -> ServiceModels:
    """The catalogue's models for ``create_app`` (``load_service_models`` checks ``lock``)."""
    return load_service_models(catalogue, device, lock=lock)  # type: ignore[arg-type]
