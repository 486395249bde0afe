"""The service's routes, one ``APIRouter`` per OpenAPI tag (``create_app`` includes them all).

- ``service``: ``/api/health``, ``/api/catalogue``, ``/api/reload``
- ``search``: ``/api/search``, ``/api/search/text``, ``/api/search/images``
- ``classify``: ``/api/classify``
- ``generate``: ``/api/generate/text``, ``/api/generate/images``
- ``nerfs``: ``/api/nerfs/{id}`` and its rendered views (tag ``catalogue``)
- ``page``: the web page at ``/`` (not in the OpenAPI schema)

Each route is a module-level function; what it needs from the loaded service (catalogue,
models, view settings) comes in through the dependencies of :mod:`clip2nerf.serve.state`.
"""

from typing import Any

PNG_ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}
"""The OpenAPI ``responses`` of a route that answers a PNG image."""
