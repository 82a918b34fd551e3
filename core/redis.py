"""Redis for what is not the channel layer (cache, throttles, presence): clients with short
timeouts behind one breaker, so nothing in a request path waits on a Redis that is away.

After a Redis command fails or times out, `REDIS.available` is False for BREAK_SECONDS: the
callers skip Redis and fall back (a miss, a per-process count, an unknown presence) instead
of each waiting for a timeout. The next call after the pause tries again.
"""

import asyncio
import logging
import threading
import time

import redis
import redis.asyncio
from django.conf import settings

log = logging.getLogger(__name__)

BREAK_SECONDS = 5.0
TIMEOUT_SECONDS = 0.25
# What a failing Redis raises, from either client.
OUTAGE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError, asyncio.TimeoutError)


class Breaker:
    """Opens for BREAK_SECONDS after a failure."""

    def __init__(self, seconds: float = BREAK_SECONDS):
        self.seconds = seconds
        self._open_until = 0.0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._open_until

    def failed(self, what: str) -> None:
        if self.available:
            log.warning("redis unavailable (%s); falling back for %.0f s", what, self.seconds)
        self._open_until = time.monotonic() + self.seconds

    def reset(self) -> None:
        self._open_until = 0.0


REDIS = Breaker()

_sync_client: redis.Redis | None = None
_sync_lock = threading.Lock()
_async_clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}


def configured() -> bool:
    return bool(settings.REDIS_URL)


def client() -> redis.Redis:
    """The process's Redis client for threads (thread-safe; short timeouts)."""
    global _sync_client
    with _sync_lock:
        if _sync_client is None:
            _sync_client = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
            )
        return _sync_client


def async_client() -> redis.asyncio.Redis:
    """The Redis client of the running event loop (short timeouts)."""
    loop = asyncio.get_running_loop()
    found = _async_clients.get(loop)
    if found is None:
        for old in [old for old in _async_clients if old.is_closed()]:
            del _async_clients[old]
        found = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        _async_clients[loop] = found
    return found


def key(*parts) -> str:
    """A key in this deployment's namespace (CACHE_PREFIX)."""
    return ":".join([settings.REDIS_PREFIX, *map(str, parts)])


async def close_async_client() -> None:
    """Closes the running loop's client (tests; orderly shutdown)."""
    found = _async_clients.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.aclose()
