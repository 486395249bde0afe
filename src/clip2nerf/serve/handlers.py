"""Exception handlers: every failure answers ``{"error": message}`` with its status.

A ``BadRequest`` carries its own status (404, 413, 422); any other ``UserError`` and a body
that does not validate are 422 (one line, the format of every validation error); Starlette's HTTP errors (404 route, 405 method) keep theirs;
anything unexpected is a logged 500 ``{"error": "internal error"}``.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from clip2nerf.errors import UserError
from clip2nerf.serve.limits import BadRequest
from clip2nerf.utils.validate import error_line

log = logging.getLogger("clip2nerf.serve")


async def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
    """A request the client must fix, with the status it chose."""
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


async def user_error(request: Request, exc: UserError) -> JSONResponse:
    """A ``UserError`` from the layers below the service (a bad upload, a bad query)."""
    return JSONResponse({"error": str(exc)}, status_code=422)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """One line in the project's words (``clip2nerf.utils.validate.error_line``):
    ``k: must be <= 100, got 101``."""
    errors = exc.errors()
    if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "missing" for e in errors):
        return JSONResponse({"error": "missing request body (JSON)"}, status_code=422)
    line = error_line(errors, skip=("body", "query", "path", "form"))
    return JSONResponse({"error": line or "invalid request"}, status_code=422)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Routing errors (unknown path, wrong method) and a body over the cap."""
    return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything else: logged with its traceback, answered without details."""
    log.exception("internal error on %s", request.url.path)
    return JSONResponse({"error": "internal error"}, status_code=500)


def add_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app`` (each answers its class and subclasses)."""
    app.exception_handler(BadRequest)(bad_request)
    app.exception_handler(UserError)(user_error)
    app.exception_handler(RequestValidationError)(validation_error)
    app.exception_handler(StarletteHTTPException)(http_error)
    app.exception_handler(Exception)(internal_error)
