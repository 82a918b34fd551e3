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
import logging
import time
from typing import Any

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.postgres.base import DATABASE

log = logging.getLogger(__name__)

_pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}


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


def _drop_pools_of_closed_loops() -> None:
    """A pool outlives its event loop only in tests (a loop per test): end its connections."""
    for loop in [loop for loop in _pools if loop.is_closed()]:
        pool = _pools.pop(loop)
        for connection in list(getattr(pool, "_pool", ())):
            connection.pgconn.finish()


async def _pool() -> AsyncConnectionPool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        _drop_pools_of_closed_loops()
        pool = AsyncConnectionPool(
            kwargs=_connect_kwargs(),
            connection_class=TrackedAsyncConnection,
            min_size=1,
            max_size=settings.WS_DB_POOL_SIZE,
            timeout=settings.DB_POOL_TIMEOUT,
            max_idle=60,
            reconnect_timeout=2,
            open=False,
            name="gateway",
        )
        _pools[loop] = pool
        await pool.open(wait=False)
    return pool


async def _getconn(pool: AsyncConnectionPool):
    deadline = time.monotonic() + pool.timeout
    while True:
        try:
            return await pool.getconn(timeout=DATABASE.wait_for(deadline - time.monotonic()))
        except PoolTimeout:
            if DATABASE.unreachable or time.monotonic() >= deadline:
                raise


async def fetch(sql: str, params: tuple | list = ()) -> list[tuple]:
    """Runs one statement (autocommit: committed when it returns) and returns its rows.
    An unreachable database raises django.db.OperationalError, as the ORM would."""
    pool = await _pool()
    try:
        connection = await _getconn(pool)
    except psycopg.OperationalError as exc:  # PoolTimeout included
        raise OperationalError(str(exc)) from exc
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(sql, params)
            rows = await cursor.fetchall() if cursor.description else []
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        # The connection broke under the statement; the pool replaces it.
        await pool.putconn(connection)
        raise (OperationalError if isinstance(exc, psycopg.OperationalError) else InterfaceError)(str(exc)) from exc
    except BaseException:
        await pool.putconn(connection)
        raise
    await pool.putconn(connection)
    return rows


async def close() -> None:
    """Closes the pool of the running loop (tests; orderly shutdown)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()
