"""Validation at the HTTP edge: sizes, pixels, image types, text, k, ids, NeRF uploads.

Every function raises :class:`BadRequest` (turned into a 4xx JSON error by the app) with a
message naming what was wrong; code behind the edge trusts what passes. The names are kept
plain (``check_text``, ``load_upload_image``...). The numeric limits of request parameters
are ``clip2nerf.utils.bounds``' (``SERVE_*``): the routes declare them on their parameters,
``bounds.SERVE_K.field`` in a JSON body's model and ``Query(5, **bounds.SERVE_K.limits)``
(so pydantic checks them and OpenAPI shows them). Images go through the project-wide
guarded loader. Only the HTTP byte caps are this module's own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

import numpy as np

from clip2nerf.catalogue.store import valid_id
from clip2nerf.errors import UserError
from clip2nerf.utils import bounds

if TYPE_CHECKING:
    from clip2nerf.nerf.config import NerfConfig

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""Whole request body (several images in one multi-view query)."""
MAX_IMAGE_BYTES = 8 * 1024 * 1024
"""One uploaded image file."""
MAX_NERF_BYTES = 8 * 1024 * 1024
"""One uploaded NeRF file (a default-architecture NeRF with a 96^3 grid is ~0.2 MB)."""
MAX_IMAGE_PIXELS = bounds.SERVE_MAX_IMAGE_PIXELS
MAX_IMAGES = bounds.SERVE_MAX_IMAGES
MAX_TEXT_CHARS = bounds.SERVE_MAX_TEXT_CHARS
MAX_K = bounds.SERVE_MAX_K
MAX_GENERATE_VIEWS = bounds.SERVE_MAX_GENERATE_VIEWS


class UploadLike(Protocol):
    """An uploaded file as the routes receive it (FastAPI's ``UploadFile``)."""

    @property
    def filename(self) -> str | None: ...

    @property
    def file(self) -> IO[bytes]: ...


class BadRequest(UserError):
    """A request the client must fix; ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def check_text(text: str | None, what: str = "text") -> str:
    """``text`` stripped, if it is non-empty, short enough and free of control characters."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f"{what} is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest(f"{what} has {len(text)} characters; at most {MAX_TEXT_CHARS}")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        raise BadRequest(f"{what} contains control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not valid Unicode (lone surrogate)") from None
    return text.strip()


def check_id(object_id: str) -> str:
    """``object_id`` if it is a valid catalogue id (else 404: no such NeRF can exist)."""
    if not valid_id(object_id):
        raise BadRequest(f"id {object_id[:60]!r}: ids are 1-128 letters, digits, '.', '_' "
                         "or '-'", 404)
    return object_id


def check_size(data: bytes, limit: int, what: str) -> bytes:
    """``data`` if it is neither empty nor over ``limit`` bytes (413)."""
    if len(data) == 0:
        raise BadRequest(f"{what} is empty (0 bytes)")
    if len(data) > limit:
        raise BadRequest(f"{what} is larger than {limit // (1024 * 1024)} MB", 413)
    return data


def load_upload_image(data: bytes, name: str) -> np.ndarray:
    """Decode an uploaded image as (H, W, 3|4) uint8 through the project's guarded loader
    (``clip2nerf.utils.images.load_image``): formats Pillow recognises, complete files, and a
    declared size of at most MAX_IMAGE_PIXELS, checked before decoding (bombs)."""
    from clip2nerf.utils.images import load_image

    what = f"image {name!r}"
    check_size(data, MAX_IMAGE_BYTES, what)
    return load_image(data, mode="auto", what=what, error=BadRequest,
                      max_pixels=MAX_IMAGE_PIXELS)


def load_upload_images(files: Sequence[UploadLike]) -> list[np.ndarray]:
    """The uploaded views of one query (1 to MAX_IMAGES files), each through
    ``load_upload_image``; at most MAX_IMAGE_BYTES + 1 bytes of a file are read."""
    if not files:
        raise BadRequest("give at least one image file in 'files'")
    if len(files) > MAX_IMAGES:
        raise BadRequest(f"{len(files)} images; at most {MAX_IMAGES} views per query")
    return [load_upload_image(f.file.read(MAX_IMAGE_BYTES + 1), f.filename or f"file {i + 1}")
            for i, f in enumerate(files)]


def load_upload_nerf(data: bytes, name: str, config: NerfConfig, tmp_dir: Path | None = None,
                     output_padding: bool = False):
    """Validate an uploaded NeRF file as ``clip2nerf classify`` does (format, architecture,
    finite weights); returns its ``NerfSet`` of one. The bytes go to a temp file that is
    removed before returning."""
    from clip2nerf.nf2vec import load_nerf_set

    check_size(data, MAX_NERF_BYTES, f"NeRF file {name!r}")
    with tempfile.TemporaryDirectory(dir=tmp_dir, prefix="clip2nerf-upload-") as d:
        path = Path(d) / "upload.safetensors"
        path.write_bytes(data)
        try:
            nerf_set = load_nerf_set(path, config, hash_split=False,
                                     output_padding=output_padding)
        except UserError as exc:
            raise BadRequest(str(exc).replace(str(path), repr(name))) from None
        except Exception as exc:  # a reader error the NeRF loader did not anticipate
            raise BadRequest(f"NeRF file {name!r} could not be read: {str(exc)[:120]}") from None
    import torch

    if not torch.isfinite(nerf_set.matrices).all():
        raise BadRequest(f"NeRF file {name!r}: weights contain NaN or infinity")
    return nerf_set
