"""Redis for what is not the channel layer (cache, throttles, presence): clients with short
timeouts behind one breaker, so nothing in a request path waits on a Redis that is away.
REDIS_URL may name a Sentinel set-up (`redis+sentinel://h1:26379,h2:26379,h3:26379/mymaster/0`):
every client then asks the sentinels for the current master, so a failover is followed.

After a Redis command fails or times out, `REDIS.available` is False for BREAK_SECONDS: the
callers skip Redis and fall back (a miss, a per-process count, an unknown presence) instead
of each waiting for a timeout. The next call after the pause tries again.
"""

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from django.conf import settings
from redis.maint_notifications import MaintNotificationsConfig

log = logging.getLogger(__name__)

BREAK_SECONDS = 5.0
TIMEOUT_SECONDS = 0.25
# What a failing Redis raises, from either client.
OUTAGE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError, asyncio.TimeoutError)


SENTINEL_SCHEME = "redis+sentinel://"

# What every client here is made with. redis-py asks each new connection to turn on
# "maintenance notifications" (a managed-Redis feature): one more round trip per connection,
# and an error from an open-source Redis that it swallows.
TIMEOUTS: dict[str, Any] = {"socket_timeout": TIMEOUT_SECONDS, "socket_connect_timeout": TIMEOUT_SECONDS}
CLIENT_OPTIONS: dict[str, Any] = {**TIMEOUTS, "maint_notifications_config": MaintNotificationsConfig(enabled=False)}


@dataclass(frozen=True)
class SentinelAddress:
    """`redis+sentinel://host:port,host:port,.../master_name[/db]`: Redis behind Sentinel."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int


def sentinel_address(url: str) -> SentinelAddress | None:
    """The Sentinel set-up a REDIS_URL names, or None for a plain `redis://` URL."""
    if not url.startswith(SENTINEL_SCHEME):
        return None
    hosts, _, path = url[len(SENTINEL_SCHEME) :].partition("/")
    master, _, db = path.strip("/").partition("/")
    sentinels = []
    for host in hosts.split(","):
        name, colon, port = host.rpartition(":")
        sentinels.append((name, int(port)) if colon else (host, 26379))
    if not master or not sentinels:
        raise ValueError("REDIS_URL: redis+sentinel://host:port[,host:port...]/master_name[/db]")
    return SentinelAddress(tuple(sentinels), master, int(db or 0))


class SentinelPool:
    """A connection pool class for Django's Redis cache (OPTIONS pool_class): `from_url`
    of a `redis+sentinel://` URL gives a pool that asks the sentinels for the master."""

    @classmethod
    def from_url(cls, url: str, **options) -> redis.sentinel.SentinelConnectionPool:
        address = sentinel_address(url)
        assert address is not None
        timeouts = {k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")}
        manager = redis.sentinel.Sentinel(list(address.sentinels), sentinel_kwargs=timeouts)
        return redis.sentinel.SentinelConnectionPool(address.master, manager, db=address.db, **options)


def _sync_from_settings() -> redis.Redis:
    address = sentinel_address(settings.REDIS_URL)
    if address is None:
        return redis.Redis.from_url(settings.REDIS_URL, **CLIENT_OPTIONS)
    manager = redis.sentinel.Sentinel(list(address.sentinels), sentinel_kwargs=TIMEOUTS)
    return manager.master_for(address.master, db=address.db, **CLIENT_OPTIONS)


def _async_from_settings() -> redis.asyncio.Redis:
    address = sentinel_address(settings.REDIS_URL)
    if address is None:
        return redis.asyncio.Redis.from_url(settings.REDIS_URL, **CLIENT_OPTIONS)
    manager = redis.asyncio.sentinel.Sentinel(list(address.sentinels), sentinel_kwargs=TIMEOUTS)
    return manager.master_for(address.master, db=address.db, **CLIENT_OPTIONS)


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
            _sync_client = _sync_from_settings()
        return _sync_client


def async_client() -> redis.asyncio.Redis:
    """The Redis client of the running event loop (short timeouts)."""
    loop = asyncio.get_running_loop()
    found = _async_clients.get(loop)
    if found is None:
        for old in [old for old in _async_clients if old.is_closed()]:
            del _async_clients[old]
        found = _async_from_settings()
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
