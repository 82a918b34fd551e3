"""What the gateway needs from the domain apps, registered by them in `AppConfig.ready()`.

The gateway imports no app. A domain tells it, here:
- its socket actions: `@frame_handler("message.send")` on an async function
  `(socket, frame) -> ack data | None` (chat/frames.py);
- who hears a user's presence: `register_peers(fn)`, `fn(user_id) -> [user ids]`;
- the brief of a user that `hello`, `typing` and `presence` carry: `register_user_brief(fn)`;
- how to rebuild the data of a durable event stored by reference (a message's `message.new`):
  `register_event_resolver(kind, fn)`, `fn([refs]) -> {ref: data}` answering for every ref.
"""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the consumer imports this module; typing only
    from realtime.consumers import GatewayConsumer

# Returns the ack's data (a dict, or JSON text already encoded: realtime.frames.Encoded), or
# None for no ack.
FrameHandler = Callable[["GatewayConsumer", dict], Awaitable[dict | str | None]]

_frame_handlers: dict[str, FrameHandler] = {}
_peers: Callable[[int], list[int]] | None = None
_user_brief: Callable[[Any], dict] | None = None
_event_resolvers: dict[str, Callable[[list[int]], dict[int, Any]]] = {}

# Frame types the gateway answers itself.
GATEWAY_FRAMES = ("resume", "ping")


def frame_handler(kind: str) -> Callable[[FrameHandler], FrameHandler]:
    """Registers the handler of client frames of type `kind`. Its return value, when not
    None, is the `data` of the `ack` sent back with the frame's `ref`; an exception becomes
    an `error` frame (see realtime.frames)."""

    def register(handler: FrameHandler) -> FrameHandler:
        if kind in GATEWAY_FRAMES or _frame_handlers.get(kind, handler) is not handler:
            raise ValueError(f"frame type {kind!r} is taken")
        _frame_handlers[kind] = handler
        return handler

    return register


def frame_handlers() -> dict[str, FrameHandler]:
    return _frame_handlers


def client_frame_types() -> tuple[str, ...]:
    """Every frame type a client may send."""
    return GATEWAY_FRAMES[:1] + tuple(_frame_handlers) + GATEWAY_FRAMES[1:]


def register_peers(fn: Callable[[int], list[int]]) -> None:
    global _peers
    _peers = fn


def peers_of(user_id: int) -> list[int]:
    """The people who hear that this user came online or went offline (a database call)."""
    return _peers(user_id) if _peers is not None else []


def register_user_brief(fn: Callable[[Any], dict]) -> None:
    global _user_brief
    _user_brief = fn


def user_brief(user) -> dict:
    if _user_brief is None:
        raise RuntimeError("no user brief registered (the accounts app registers it)")
    return _user_brief(user)


def register_event_resolver(kind: str, fn: Callable[[list[int]], dict[int, Any]]) -> None:
    _event_resolvers[kind] = fn


def resolve_events(kind: str, refs: list[int]) -> dict[int, Any]:
    """The data of events of `kind` stored by reference, by ref (a database call)."""
    resolver = _event_resolvers.get(kind)
    if resolver is None:
        raise LookupError(f"no resolver registered for {kind} events")
    return resolver(refs)
