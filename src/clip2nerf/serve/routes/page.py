"""The web page: ``/`` and the folder of its static files (not in the OpenAPI schema)."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).parents[1] / "static"
"""``serve/static``: the page, its script and style sheet (mounted at ``/static``)."""

router = APIRouter()


@router.get("/", include_in_schema=False)
def index():
    """The page (plain HTML and JavaScript over the JSON API)."""
    return FileResponse(STATIC_DIR / "index.html")
