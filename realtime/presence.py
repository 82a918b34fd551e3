"""Who is online: a user with a socket that some node refreshed within PRESENCE_TTL_SECONDS.

Kept in Redis, not in the database: an idle socket costs the database nothing. Per user a
sorted set of their sockets (channel name -> expiry), and one sorted set of online users
(user id -> the latest expiry of their sockets). A node adds a socket when it opens, removes
it when it closes, and refreshes all of its sockets in one pipeline per check interval
(realtime.hub); a node that dies stops refreshing, and its sockets expire. Without Redis
(the embedded default, one process) the same lives in this process's memory.

Presence is best effort, like the frames it drives: when Redis is away, opening and closing
sockets still works and nobody is told; `online_among` answers "nobody".

The same per-user set bounds how many sockets one account holds open across every node
(`admit`, WS_MAX_SOCKETS_PER_USER): a Lua script drops the expired entries, counts, and adds
the new socket only below the limit, atomically. A closed socket leaves the set at once; a
killed node's sockets leave it when their TTL runs out, since nobody refreshes them. While
Redis is away the limit holds per process (fail open beyond that), counted here.
"""

import logging
import threading
import time
from collections.abc import Iterable

from django.conf import settings

from core import redis as shared_redis
from core.redis import OUTAGE, REDIS

log = logging.getLogger(__name__)


def _ttl() -> float:
    return float(settings.PRESENCE_TTL_SECONDS)


def _sockets_key(user_id: int) -> str:
    return shared_redis.key("presence", "sockets", user_id)


def _online_key() -> str:
    return shared_redis.key("presence", "online")


# Admission (see the module docstring). KEYS: the user's sockets, the online set. ARGV: now,
# expiry, channel, limit, key TTL, user id. Returns {admitted, sockets before this one}.
ADMIT_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
local known = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not known and count >= tonumber(ARGV[4]) then
  return {0, count}
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[6])
if known then
  count = count - 1
end
return {1, count}
"""


class MemoryPresence:
    """One process: the whole truth is here."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sockets: dict[int, dict[str, float]] = {}

    def _live(self, user_id: int, now: float) -> dict[str, float]:
        sockets = self._sockets.get(user_id, {})
        for channel in [c for c, expiry in sockets.items() if expiry <= now]:
            del sockets[channel]
        return sockets

    async def opened(self, user_id: int, channel: str) -> bool:
        now = time.time()
        with self._lock:
            sockets = self._sockets.setdefault(user_id, {})
            self._live(user_id, now)
            sockets[channel] = now + _ttl()
            return len(sockets) == 1

    async def admit(self, user_id: int, channel: str, limit: int) -> tuple[bool, bool]:
        now = time.time()
        with self._lock:
            sockets = self._live(user_id, now)
            if channel not in sockets and len(sockets) >= limit:
                return False, False
            first = not sockets
            self._sockets.setdefault(user_id, sockets)[channel] = now + _ttl()
            return True, first

    async def closed(self, user_id: int, channel: str) -> bool:
        now = time.time()
        with self._lock:
            sockets = self._live(user_id, now)
            sockets.pop(channel, None)
            if not sockets:
                self._sockets.pop(user_id, None)
                return True
            return False

    async def refresh(self, sockets: Iterable[tuple[int, str]]) -> None:
        expiry = time.time() + _ttl()
        with self._lock:
            for user_id, channel in sockets:
                self._sockets.setdefault(user_id, {})[channel] = expiry

    def online_among(self, user_ids: Iterable[int]) -> set[int]:
        now = time.time()
        with self._lock:
            return {uid for uid in user_ids if self._live(uid, now)}


class RedisPresence:
    async def admit(self, user_id: int, channel: str, limit: int) -> tuple[bool, bool]:
        now = time.time()
        client = shared_redis.async_client()
        keys = [_sockets_key(user_id), _online_key()]
        args: list[str | int | float] = [now, now + _ttl(), channel, limit, int(_ttl() * 2), str(user_id)]
        admitted, before = await client.eval(ADMIT_SCRIPT, len(keys), *keys, *args)
        return bool(admitted), bool(admitted) and before == 0

    async def opened(self, user_id: int, channel: str) -> bool:
        now = time.time()
        key = _sockets_key(user_id)
        pipe = shared_redis.async_client().pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {channel: now + _ttl()})
        pipe.zcard(key)
        pipe.expire(key, int(_ttl() * 2))
        pipe.zadd(_online_key(), {str(user_id): now + _ttl()}, gt=True)
        results = await pipe.execute()
        return results[2] == 1

    async def closed(self, user_id: int, channel: str) -> bool:
        now = time.time()
        key = _sockets_key(user_id)
        pipe = shared_redis.async_client().pipeline(transaction=True)
        pipe.zrem(key, channel)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        results = await pipe.execute()
        if results[2] == 0:
            await shared_redis.async_client().zrem(_online_key(), str(user_id))
            return True
        return False

    async def refresh(self, sockets: Iterable[tuple[int, str]]) -> None:
        now = time.time()
        expiry = now + _ttl()
        pipe = shared_redis.async_client().pipeline(transaction=False)
        users = set()
        for user_id, channel in sockets:
            pipe.zadd(_sockets_key(user_id), {channel: expiry})
            pipe.expire(_sockets_key(user_id), int(_ttl() * 2))
            users.add(str(user_id))
        if users:
            pipe.zadd(_online_key(), dict.fromkeys(users, expiry))
        # Users whose every node died leave the online set here.
        pipe.zremrangebyscore(_online_key(), "-inf", now)
        await pipe.execute()

    def online_among(self, user_ids: Iterable[int]) -> set[int]:
        ids = list(user_ids)
        if not ids:
            return set()
        now = time.time()
        scores = shared_redis.client().zmscore(_online_key(), [str(uid) for uid in ids])
        return {uid for uid, score in zip(ids, scores, strict=True) if score is not None and score > now}


_memory = MemoryPresence()
_redis = RedisPresence()
# This process's open sockets per user, whatever the backend: the limit while Redis is away.
_local: dict[int, set[str]] = {}


def _backend() -> MemoryPresence | RedisPresence:
    return _redis if shared_redis.configured() else _memory


async def opened(*, user_id: int, channel: str) -> bool:
    """Records an open socket. True when it is the user's only live one (they came online);
    False, and nothing recorded, when Redis is away."""
    if not REDIS.available:
        return False
    try:
        return await _backend().opened(user_id, channel)
    except OUTAGE:
        REDIS.failed("presence")
        return False


async def admit(*, user_id: int, channel: str, limit: int) -> tuple[bool, bool]:
    """Records an opening socket if the user holds fewer than `limit` across every node:
    (admitted, whether it is their only live socket: they came online). While Redis is away
    the limit counts this process's sockets only, and nobody comes online."""
    local = _local.setdefault(user_id, set())
    admitted, first = False, False
    if REDIS.available:
        try:
            admitted, first = await _backend().admit(user_id, channel, limit)
        except OUTAGE:
            REDIS.failed("presence")
            admitted, first = len(local) < limit, False
    else:
        admitted = len(local) < limit
    if admitted:
        local.add(channel)
    elif not local:
        del _local[user_id]
    return admitted, first


async def closed(*, user_id: int, channel: str) -> bool:
    """Forgets a socket. True when the user has no live socket left (they went offline)."""
    local = _local.get(user_id)
    if local is not None:
        local.discard(channel)
        if not local:
            del _local[user_id]
    if not REDIS.available:
        return False
    try:
        return await _backend().closed(user_id, channel)
    except OUTAGE:
        REDIS.failed("presence")
        return False


async def refresh(*, sockets: Iterable[tuple[int, str]]) -> None:
    """Marks these (user id, channel name) sockets alive for another TTL: one round trip."""
    if not REDIS.available:
        return
    try:
        await _backend().refresh(sockets)
    except OUTAGE:
        REDIS.failed("presence")


def online_among(user_ids: Iterable[int]) -> set[int]:
    """Those of `user_ids` with a live socket (from a thread)."""
    if not REDIS.available:
        return set()
    try:
        return _backend().online_among(user_ids)
    except OUTAGE:
        REDIS.failed("presence")
        return set()


def reset() -> None:
    """Forgets the in-process presence (tests)."""
    global _memory
    _memory = MemoryPresence()
    _local.clear()


def prune_stale(*, dry_run: bool = False) -> int:
    """Takes users whose sockets all expired out of the online set (any node's refresh does
    this too; with every node gone, nothing else would). Returns how many, or with `dry_run`
    how many would go. Redis only: in-process presence dies with its process."""
    if not shared_redis.configured():
        return 0
    client = shared_redis.client()
    now = time.time()
    if dry_run:
        return int(client.zcount(_online_key(), "-inf", now))
    return int(client.zremrangebyscore(_online_key(), "-inf", now))
