"""PostgreSQL from the event loop: the gateway's hot path without a thread hop.

A socket's `message.send` is one SQL statement (chat's send function); running it through
the ORM in a database thread cost a thread round trip and the ORM's compilation for every
frame. Here a small asyncio pool (WS_DB_POOL_SIZE connections per process, per event loop)
runs such statements on the loop itself. Connection attempts report to the same
reachability as Django's pool (core.postgres), so while PostgreSQL is away a frame fails at
once with `unavailable` instead of waiting.

Only on PostgreSQL (`available()`); the embedded SQLite default takes the ORM path.
"""

import asyncio
import collections
import logging
from typing import Any

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError

from core.metrics import pool_register
from core.postgres.base import DATABASE

log = logging.getLogger(__name__)

_pools: dict[asyncio.AbstractEventLoop, "LoopPool"] = {}


def available() -> bool:
    return bool(getattr(settings, "POSTGRES", False))


class TrackedAsyncConnection(psycopg.AsyncConnection):
    """Each attempt to connect tells the process's reachability how it went."""

    @classmethod
    async def connect(cls, *args, **kwargs):
        try:
            connection = await super().connect(*args, **kwargs)
        except psycopg.OperationalError:
            DATABASE.failed()
            raise
        DATABASE.succeeded()
        return connection


def _connect_kwargs() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    options = db.get("OPTIONS", {})
    kwargs: dict[str, Any] = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "connect_timeout": options.get("connect_timeout", 5),
        "autocommit": True,
        # Server-side prepared statements after a statement's second use: no parse or plan
        # per send. Off behind PgBouncer in transaction pooling (DB_PREPARE_STATEMENTS=0).
        "prepare_threshold": 1 if settings.DB_PREPARE_STATEMENTS else None,
        "options": "-c TimeZone=UTC",
    }
    return {key: value for key, value in kwargs.items() if value is not None or key == "prepare_threshold"}


class LoopPool:
    """At most `size` connections of one event loop, handed out from a deque (psycopg_pool's
    machinery cost a tenth of a node's CPU under load, py-spy). A connection that breaks is
    closed and replaced by a fresh one on the next acquire."""

    def __init__(self, size: int):
        self.size = size
        self.idle: collections.deque[psycopg.AsyncConnection] = collections.deque()
        self.count = 0
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    async def acquire(self) -> psycopg.AsyncConnection:
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                return connection
            self.count -= 1
        if DATABASE.unreachable and self.count >= self.size:
            raise OperationalError("the database is unreachable")
        if self.count < self.size:
            self.count += 1
            try:
                return await TrackedAsyncConnection.connect(**_connect_kwargs())
            except BaseException:
                self.count -= 1
                raise
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, settings.DB_POOL_TIMEOUT)
        except TimeoutError:
            raise OperationalError("no database connection free in time") from None

    def release(self, connection: psycopg.AsyncConnection) -> None:
        if connection.closed or connection.broken:
            self.count -= 1
            asyncio.ensure_future(connection.close())
            while self.waiters:  # a waiter may open a connection of its own now
                waiter = self.waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(_Retry())
                    return
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self.idle.append(connection)

    async def close(self) -> None:
        while self.idle:
            await self.idle.pop().close()
        self.count = 0


class _Retry(Exception):
    """A connection broke while a caller waited for one: it should acquire again."""


def _drop_pools_of_closed_loops() -> None:
    """A pool outlives its event loop only in tests (a loop per test): end its connections."""
    for loop in [loop for loop in _pools if loop.is_closed()]:
        pool = _pools.pop(loop)
        for connection in pool.idle:
            connection.pgconn.finish()


def _pool() -> LoopPool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        _drop_pools_of_closed_loops()
        pool = _pools[loop] = LoopPool(settings.WS_DB_POOL_SIZE)
    return pool


async def _acquire(pool: LoopPool) -> psycopg.AsyncConnection:
    while True:
        try:
            return await pool.acquire()
        except _Retry:
            continue
        except psycopg.OperationalError as exc:
            raise OperationalError(str(exc)) from exc


async def fetch(sql: str, params: tuple | list = ()) -> list[tuple]:
    """Runs one statement (autocommit: committed when it returns) and returns its rows.
    An unreachable database raises django.db.OperationalError, as the ORM would."""
    pool = _pool()
    connection = await _acquire(pool)
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []
    except psycopg.OperationalError as exc:
        raise OperationalError(str(exc)) from exc
    except psycopg.InterfaceError as exc:
        raise InterfaceError(str(exc)) from exc
    finally:
        pool.release(connection)


def _occupancy() -> tuple[int, int, int]:
    """(in use, idle, size) over this process's loop pools, for /metrics."""
    pools = list(_pools.values())
    idle = sum(len(pool.idle) for pool in pools)
    return sum(pool.count for pool in pools) - idle, idle, sum(pool.size for pool in pools)


pool_register(name="gateway", stats=_occupancy)


async def close() -> None:
    """Closes the pool of the running loop (tests; orderly shutdown)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()
