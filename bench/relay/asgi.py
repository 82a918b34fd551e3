"""ASGI entry of the stock relay: websockets at /ws/; any HTTP request gets a bare 200."""

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "relay.settings"

import django  # noqa: E402

django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from relay.consumers import RelayConsumer  # noqa: E402


async def health(scope, receive, send):
    """`GET /healthz` (any path): 200, so a harness can tell the relay is up."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


application = ProtocolTypeRouter({"http": health, "websocket": URLRouter([path("ws/", RelayConsumer.as_asgi())])})
