"""ASGI entry: http -> Django; websocket -> origin check -> auth -> the gateway."""

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402
from realtime.auth import OriginAndAuthMiddleware  # noqa: E402
from realtime.consumers import GatewayConsumer  # noqa: E402

from realtime.publish import bind_loop  # noqa: E402


class BindLoop:
    """Tells the publisher which loop the channel layer lives on (the server's)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        bind_loop(asyncio.get_running_loop())
        return await self.app(scope, receive, send)


websocket_app = OriginAndAuthMiddleware(URLRouter([path("ws/", GatewayConsumer.as_asgi())]))

application = BindLoop(
    ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_app})
)
