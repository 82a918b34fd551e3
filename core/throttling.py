"""Throttles (429 with a JSON body): one counter per scope and person, shared by REST and the
socket, that never makes a request wait on Redis. Rates come from THROTTLE_RATES.

`LIMITER` counts hits in this process, in windows of the rate's period, and decides with a
sliding estimate (the previous window's count, weighted by how much of it still overlaps,
plus the current one). Once per SYNC_SECONDS a hit flushes this process's new hits to Redis
in one pipeline (INCRBY per key) and takes back the deployment's totals, so every process
sees the others' hits within about a second. While Redis is away (the breaker in
core.redis) each process counts alone: a person can then get the rate once per node, and
nothing waits. Without REDIS_URL (the embedded default, one process) the count is exact.

A socket's `message.send` counts in the same `message` scope as the REST send
(`throttle_user_write`), in the same process: a socket is no way around the limit.
"""

import asyncio
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from functools import wraps
from types import SimpleNamespace

from rest_framework import throttling
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings

from core import redis as shared_redis
from core.errors import json_error
from core.redis import OUTAGE, REDIS

log = logging.getLogger(__name__)

SYNC_SECONDS = 1.0


@dataclass
class Counter:
    """One scope and person: hits per window index, and the deployment's totals as of the
    last sync (`known`) beside this process's hits not yet flushed (`pending`) and those on
    their way to Redis (`flushing`: still counted until the totals come back)."""

    period: int
    known: dict[int, int] = field(default_factory=dict)
    pending: dict[int, int] = field(default_factory=dict)
    flushing: dict[int, int] = field(default_factory=dict)

    def count(self, window: int) -> int:
        return self.known.get(window, 0) + self.pending.get(window, 0) + self.flushing.get(window, 0)

    def landed(self, window: int, hits: int) -> None:
        """`hits` of a flush are in `known` now (or were dropped with an old window)."""
        left = self.flushing.get(window, 0) - hits
        if left > 0:
            self.flushing[window] = left
        else:
            self.flushing.pop(window, None)


class RateLimiter:
    def __init__(self):
        self._lock = threading.Lock()
        self._counters: dict[str, Counter] = {}
        self._synced_at = time.monotonic()
        self._syncing = False

    def hit(self, name: str, limit: int, period: int) -> float | None:
        """Counts one hit of `name` (scope and person) against `limit` per `period` seconds.
        None when allowed; otherwise the seconds to wait (the hit is not counted)."""
        now = time.time()
        window, into = divmod(now, period)
        window = int(window)
        with self._lock:
            counter = self._counters.get(name)
            if counter is None:
                counter = self._counters[name] = Counter(period)
            overlap = 1.0 - into / period
            estimate = counter.count(window - 1) * overlap + counter.count(window)
            if estimate + 1 > limit:
                return period - into  # at the latest, the next window has room

            counter.pending[window] = counter.pending.get(window, 0) + 1
        return None

    def due(self) -> bool:
        """Whether a sync is due (and none running); claims it when so."""
        with self._lock:
            if self._syncing or time.monotonic() - self._synced_at < SYNC_SECONDS:
                return False
            self._syncing = True
            return True

    def _take_pending(self) -> list[tuple[str, int, int, int]]:
        """(name, window, hits, period) to flush; old windows are forgotten."""
        now = time.time()
        flush = []
        with self._lock:
            for name, counter in list(self._counters.items()):
                current = int(now // counter.period)
                for window in [w for w in counter.known if w < current - 1]:
                    del counter.known[window]
                for window, hits in counter.pending.items():
                    if window >= current - 1:
                        flush.append((name, window, hits, counter.period))
                        counter.flushing[window] = counter.flushing.get(window, 0) + hits
                counter.pending.clear()
                if not counter.known and not counter.flushing:
                    # Nothing known: forget it (a flush of its hits brings it back).
                    del self._counters[name]
        return flush

    def _merge(self, flush, totals) -> None:
        with self._lock:
            for (name, window, hits, period), total in zip(flush, totals, strict=True):
                counter = self._counters.setdefault(name, Counter(period))
                counter.known[window] = int(total)
                counter.landed(window, hits)

    def _restore(self, flush) -> None:
        """Redis was away: keep the hits as this process's own knowledge."""
        with self._lock:
            for name, window, hits, period in flush:
                counter = self._counters.setdefault(name, Counter(period))
                counter.known[window] = counter.known.get(window, 0) + hits
                counter.landed(window, hits)

    def _finish(self) -> None:
        with self._lock:
            self._synced_at = time.monotonic()
            self._syncing = False

    @staticmethod
    def _queue(pipe, flush):
        """One INCRBY (and its expiry) per flushed window; the totals are every other reply."""
        for name, window, hits, period in flush:
            pipe.incrby(shared_redis.key("throttle", name, window), hits)
            pipe.expire(shared_redis.key("throttle", name, window), period * 2 + 1)
        return pipe

    def _failed(self, flush, error: BaseException) -> None:
        """The flush did not reach Redis: its hits stay this process's own knowledge."""
        if isinstance(error, OUTAGE):
            REDIS.failed("throttle sync")
        else:
            log.error("throttle sync failed", exc_info=error)
        self._restore(flush)

    def sync(self) -> None:
        """Flushes this process's hits to Redis and takes the totals back (from a thread)."""
        flush = self._take_pending()
        try:
            if not (flush and shared_redis.configured() and REDIS.available):
                self._restore(flush)
                return
            try:
                pipe = self._queue(shared_redis.client().pipeline(transaction=False), flush)
                self._merge(flush, pipe.execute()[::2])
            except Exception as error:  # whatever failed, the hits stay counted
                self._failed(flush, error)
        finally:
            self._finish()

    async def async_sync(self) -> None:
        """`sync` from the event loop."""
        flush = self._take_pending()
        try:
            if not (flush and shared_redis.configured() and REDIS.available):
                self._restore(flush)
                return
            try:
                pipe = self._queue(shared_redis.async_client().pipeline(transaction=False), flush)
                self._merge(flush, (await pipe.execute())[::2])
            except Exception as error:  # whatever failed, the hits stay counted
                self._failed(flush, error)
        finally:
            self._finish()

    def reset(self) -> None:
        """Forgets every count of this process (tests)."""
        with self._lock:
            self._counters.clear()


LIMITER = RateLimiter()


def parse_rate(rate) -> tuple[int, int] | None:
    """`"600/min"` -> (600, 60); None for no limit."""
    if not isinstance(rate, str):
        return None
    count, _, unit = rate.partition("/")
    return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit[0]]


class LimiterThrottle(throttling.BaseThrottle):
    """A DRF throttle on LIMITER. `scope` names the rate; the person is the user, or the
    connection's address when anonymous."""

    scope = ""
    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES

    def scope_for(self, request, view) -> str | None:
        return self.scope

    def allow_request(self, request, view):
        scope = self.scope_for(request, view)
        rate = parse_rate(self.THROTTLE_RATES.get(scope)) if scope else None
        if rate is None:
            return True
        user = getattr(request, "user", None)
        ident = f"u{user.pk}" if user is not None and user.is_authenticated else f"a{self.get_ident(request)}"
        self._wait = LIMITER.hit(f"{scope}:{ident}", *rate)
        if LIMITER.due():
            LIMITER.sync()
        return self._wait is None

    def wait(self):
        return getattr(self, "_wait", None)


class AnonRateThrottle(LimiterThrottle):
    """Requests of anonymous clients, per address."""

    scope = "anon"

    def scope_for(self, request, view):
        user = getattr(request, "user", None)
        return None if user is not None and user.is_authenticated else "anon"


class UserRateThrottle(LimiterThrottle):
    """Requests of a signed-in person."""

    def scope_for(self, request, view):
        user = getattr(request, "user", None)
        return "user" if user is not None and user.is_authenticated else None


class ScopedThrottle(LimiterThrottle):
    """A view sets `throttle_scope` (login, register, post, comment, like, follow, message).

    Writes only: reads of a throttled view are not counted against the scope."""

    def scope_for(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        return getattr(view, "throttle_scope", None)


def throttle_posts(view, *, scope: str):
    """Wraps a plain Django view (the admin's login form) so its POSTs count against a
    throttle scope, per user or per address like the API's: guessing passwords there is no
    cheaper than at /api/auth/login."""
    holder = SimpleNamespace(throttle_scope=scope)

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method == "POST":
            throttle = ScopedThrottle()
            if not throttle.allow_request(request, holder):
                response = json_error(429, "Too many attempts; try again later.", "throttled")
                response["Retry-After"] = str(max(1, math.ceil(throttle.wait() or 1)))
                return response
        return view(request, *args, **kwargs)

    return wrapped


def _user_write(user_id: int, scope: str) -> None:
    rate = parse_rate(ScopedThrottle.THROTTLE_RATES.get(scope))
    if rate is None:
        return
    wait = LIMITER.hit(f"{scope}:u{user_id}", *rate)
    if wait is not None:
        raise Throttled(wait=wait)


def throttle_user_write(*, user, scope: str) -> None:
    """Counts one write of `user` against a throttle scope outside DRF, sharing the bucket
    of the REST views; raises Throttled over the rate. From a thread."""
    _user_write(user.pk, scope)
    if LIMITER.due():
        LIMITER.sync()


def athrottle_user_write(*, user_id: int, scope: str) -> None:
    """`throttle_user_write` on the event loop: counts at once, and leaves the sync with
    Redis to a task of its own (the send never waits for it)."""
    _user_write(user_id, scope)
    if LIMITER.due():
        asyncio.get_running_loop().create_task(LIMITER.async_sync())
