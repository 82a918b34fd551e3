"""ASGI middleware: an HTTP request body over REQUEST_MAX_BYTES (or the larger limit
REQUEST_MAX_BYTES_BY_PATH names for its exact path) is refused with 413.

Django's ASGI handler reads the whole body (to a temporary file) before any view runs, and
daphne sets no limit, so without this one request could fill the disk. A declared
Content-Length over the limit is refused before anything is read; a chunked body is counted
as it arrives and cut off at the limit.
"""

import json

from django.conf import settings

from core.http import declared_length

BODY = json.dumps({"detail": "The request body is too large.", "code": "too_large"}).encode()


async def send_too_large(send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


class RequestBodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.REQUEST_MAX_BYTES_BY_PATH.get(scope.get("path", ""), settings.REQUEST_MAX_BYTES)
        declared = declared_length(scope.get("headers", []))
        if declared is not None and declared > limit:
            return await send_too_large(send)
        received = 0
        exceeded = False
        started = False

        async def limited_receive():
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Django stops reading at a disconnect and answers nothing; we answer.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if exceeded and not started:
            await send_too_large(send)
