"""ASGI middleware that caps the size of request bodies (413 with a JSON error)."""

import json

from starlette.exceptions import HTTPException as _StarletteHTTPException


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


async def _send_json(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
