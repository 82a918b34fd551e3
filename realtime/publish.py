"""Fire-and-forget delivery to the channel layer, from any thread.

Services run in worker threads (Django views under daphne, `database_sync_to_async` in
consumers); the channel layer lives on the server's event loop. `publish` hands the send to
that loop and returns at once, so a slow or absent Redis never holds a request or fails a
committed write: the event log keeps what the doorbell could not ring.
"""

import asyncio
import logging
from concurrent.futures import Future

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None


def bind_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Names the event loop the channel layer lives on (the ASGI server's)."""
    global _loop
    _loop = loop


async def _send_all(sends: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    for group, message in sends:
        try:
            await layer.group_send(group, message)
        except Exception:  # noqa: BLE001 - a lost publish is a gap the log fills
            log.warning("publish to %s failed; sockets will recover from the log", group, exc_info=True)


def _log_failure(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("publish failed", exc_info=future.exception())


def publish(sends: list[tuple[str, dict]]) -> None:
    """Sends each `(group, message)` through the channel layer without waiting for it."""
    if not sends:
        return
    loop = _loop
    if loop is not None and loop.is_running() and not loop.is_closed():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(_send_all(sends))
        else:
            asyncio.run_coroutine_threadsafe(_send_all(sends), loop).add_done_callback(_log_failure)
        return
    # No server loop (a management command, a shell, a sync test): send in place.
    try:
        async_to_sync(_send_all)(sends)
    except Exception:  # noqa: BLE001
        log.warning("publish failed", exc_info=True)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def frame_message(frame: dict, *, skip_user: int | None = None) -> dict:
    """The channel-layer message that carries an ephemeral frame (`typing`, `presence`,
    `feed.post`, ...) to a user's sockets, as it is; sockets of `skip_user` drop it."""
    return {"type": "gateway.frame", "frame": frame, "skip_user": skip_user}


def push_frame(user_ids, frame: dict, *, skip_user: int | None = None) -> None:
    """Best effort: sends an ephemeral frame to every socket of these users, without waiting.
    Never replayed: a client that missed one refetches over REST."""
    message = frame_message(frame, skip_user=skip_user)
    publish([(user_group(uid), message) for uid in user_ids])


def credential_group(digest: str) -> str:
    """The group of every socket opened with one credential (a token digest, or the SHA-256
    of a session key): logout tells it `{"type": "auth.revoked"}` and those sockets close."""
    return f"auth.{digest}"
