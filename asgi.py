"""ASGI entry: http -> Django; websocket -> origin check -> auth -> the gateway."""

import asyncio
import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from accounts.auth import ApiTokenStore  # noqa: E402
from core.bodylimit import RequestBodyLimit  # noqa: E402
from core.concurrency import ConcurrencyLimit  # noqa: E402
from realtime.auth import OriginAndAuthMiddleware  # noqa: E402
from realtime.consumers import GatewayConsumer  # noqa: E402
from realtime.publish import bind_loop  # noqa: E402


def allow_protocol_close_codes(WebSocketProtocol) -> None:
    """Lets the gateway close with 1009 (frame too big) under daphne.

    The ASGI spec lets an application close with any code; daphne hands the code to
    autobahn's `sendClose`, which accepts only 1000 and 3000-4999 from an application and
    raises otherwise (the socket then dies with 1011). RFC 6455 lets an endpoint send 1009
    itself, so those codes go straight to the close frame. A message over daphne's own limit
    (`--websocket-max-message-size`, 1 MiB by default) never reaches the app: autobahn fails
    the connection itself, and says 1009 in a close frame once `failByDrop` is off (below).
    """
    original = WebSocketProtocol.serverClose
    connection_made = WebSocketProtocol._connectionMade

    def serverClose(self, code=None):
        if code in (1008, 1009, 1011):
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code)

    def _connectionMade(self):
        connection_made(self)
        # autobahn's default fails a connection by dropping TCP: a message over daphne's
        # own limit (--websocket-max-message-size, 1 MiB by default) vanished without a close
        # code. Failing with a close frame says 1009 (or 1002/1007 for a protocol error).
        self.failByDrop = False

    WebSocketProtocol.serverClose = serverClose
    WebSocketProtocol._connectionMade = _connectionMade


def free_connections_when_they_end(WebRequest, WebSocketProtocol) -> None:
    """Lets a websocket connection's objects go the moment it ends, by reference counting.

    Two reference cycles outlived every websocket connection: autobahn resolves the
    protocol's `is_closed` Deferred with the protocol itself, and daphne's upgrade leaves the
    upgrade request in its HTTP channel's list of requests while the request holds the channel.
    Only a full garbage collection frees a cycle, and the node's tuning (below) makes those
    rare: in the soak each reconnect left about 20 KiB behind (the protocol, its transport,
    the request, headers and buffers), RSS climbed with socket churn, and the full collection
    that finally came took 0.36 s of the event loop at 1,000 sockets. Both cycles are broken
    when the connection ends; `tests/e2e/test_socket_memory.py` holds it.
    """
    process = WebRequest.process
    connection_lost = WebSocketProtocol.connectionLost

    def process_then_let_go(self):
        process(self)
        channel = self.channel
        if self.transport is None and channel is not None and self in channel.requests:
            channel.requests.remove(self)  # handed over to a websocket: this request is done

    def connection_lost_then_let_go(self, reason):
        connection_lost(self, reason)
        closed = getattr(self, "is_closed", None)
        if closed is not None and closed.called and closed.result is self:
            closed.result = None  # its callbacks have run; the result held the protocol

    WebRequest.process = process_then_let_go
    WebSocketProtocol.connectionLost = connection_lost_then_let_go


def lazy_handshake_debug_log(protocol_module) -> None:
    """autobahn pretty-prints every connection's configuration for a debug log line whether
    or not debug logging is on: a tenth of a handshake's CPU (py-spy, 500 sockets opening at
    once). Its log formats the value lazily anyway, so hand it the value unformatted."""
    protocol_module.pformat = lambda value: value


def adapt_the_websocket_server() -> None:
    """What the node changes in daphne and autobahn (above), once per process."""
    try:
        # Only under daphne: another ASGI server may run us.
        from autobahn.websocket import protocol
        from daphne.http_protocol import WebRequest
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return
    if getattr(WebSocketProtocol, "_instaclone_adapted", False):
        return
    allow_protocol_close_codes(WebSocketProtocol)
    free_connections_when_they_end(WebRequest, WebSocketProtocol)
    lazy_handshake_debug_log(protocol)
    WebSocketProtocol._instaclone_adapted = True


adapt_the_websocket_server()


def tune_garbage_collection() -> None:
    """Collects less often: a node holds many long-lived objects (a consumer, its protocol
    and queues per socket), and CPython's default (a young collection every 700
    allocations, a full one every 100 young ones) spent a fifth of a handshake burst's CPU
    walking them (py-spy). What the app loaded at start is frozen out of collections."""
    if os.environ.get("GC_TUNING", "1") == "0":
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


tune_garbage_collection()


class BindLoop:
    """Tells the publisher which loop the channel layer lives on (the server's)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        bind_loop(asyncio.get_running_loop())
        return await self.app(scope, receive, send)


websocket_app = OriginAndAuthMiddleware(URLRouter([path("ws/", GatewayConsumer.as_asgi())]), tokens=ApiTokenStore())

application = BindLoop(
    ProtocolTypeRouter({"http": RequestBodyLimit(ConcurrencyLimit(django_asgi_app)), "websocket": websocket_app})
)
