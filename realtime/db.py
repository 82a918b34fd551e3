"""The gateway's database threads: every ORM call of a socket runs here.

Channels' default (`thread_sensitive`) runs every socket's ORM work of a process in ONE
thread, so one slow commit stalls all sockets; a small pool lets sockets commit side by
side. Each thread keeps its own connection, so a node holds at most WS_DB_THREADS of them
for its sockets. Keep it small: the threads share the GIL with the event loop (see the
setting).
"""

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import connections

from core import redis as shared_redis
from realtime import pg

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def db_executor() -> ThreadPoolExecutor:
    """The pool of database threads, started on first use."""
    global _executor
    with _executor_lock:
        if _executor is None:
            # SQLite takes one writer at a time: more threads would only queue on its lock.
            sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
            workers = 1 if sqlite else settings.WS_DB_THREADS
            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gateway-db")
        return _executor


def db_executor_shutdown() -> None:
    """Stops the database threads (their connections close as the threads end); the next
    database call starts a new pool. For tests and orderly shutdown."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is None:
        return
    # One task per thread (the barrier keeps any thread from taking two) closes its connections.
    workers = executor._max_workers
    barrier = threading.Barrier(workers)

    def close_mine():
        connections.close_all()
        try:
            barrier.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass

    for _ in range(workers):
        executor.submit(close_mine)
    executor.shutdown(wait=True)


def database_call(func):
    """Runs `func` in a gateway database thread, closing stale connections around it."""

    @functools.wraps(func)
    async def wrapper(*args, **kwargs):
        return await DatabaseSyncToAsync(func, thread_sensitive=False, executor=db_executor())(*args, **kwargs)

    return wrapper


async def shutdown() -> None:
    """Ends what the gateway holds for the running event loop: its PostgreSQL pool, its
    Redis client, and the database threads. For tests (a loop each) and orderly shutdown."""
    await pg.close()
    await shared_redis.close_async_client()
    await asyncio.to_thread(db_executor_shutdown)
