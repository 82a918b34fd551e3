"""Django's PostgreSQL backend over a bounded pool that fails fast while the database is away.

Django's pool (psycopg_pool) makes a request wait for a connection up to the pool timeout,
and, once the server is down, keeps waiting while its reconnection attempts back off: every
request of an outage would hang for DB_POOL_TIMEOUT seconds. Here each connection attempt
reports to `DATABASE` (this process's view of reachability); while the last attempt failed,
a request waits only briefly for a connection (time enough for one fresh attempt to
succeed) and otherwise gets OperationalError at once, which the API answers with 503
`unavailable`. Recovery is prompt: the pool gives up on a failing attempt within seconds
(`reconnect_timeout` in the settings), so the next request starts a new one.

ENGINE = "core.postgres" (config/settings.py sets it when DATABASE_URL is PostgreSQL).
"""

import threading
import time

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool, PoolTimeout

# While the database looks unreachable, a request waits this long for a connection.
UNREACHABLE_WAIT_SECONDS = 0.2
# A pooled wait is cut in slices this long, to notice an outage that starts meanwhile.
WAIT_SLICE_SECONDS = 0.5


class Reachability:
    """Whether this process's last attempt to connect to PostgreSQL failed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._failed_at: float | None = None

    def failed(self) -> None:
        with self._lock:
            self._failed_at = time.monotonic()

    def succeeded(self) -> None:
        with self._lock:
            self._failed_at = None

    @property
    def unreachable(self) -> bool:
        return self._failed_at is not None

    def wait_for(self, remaining: float) -> float:
        """How long to wait for a pooled connection next."""
        return min(UNREACHABLE_WAIT_SECONDS if self.unreachable else WAIT_SLICE_SECONDS, max(0.0, remaining))


DATABASE = Reachability()


class TrackedConnection(psycopg.Connection):
    """The pool's connection class: each attempt to connect tells DATABASE how it went."""

    @classmethod
    def connect(cls, *args, **kwargs):
        try:
            connection = super().connect(*args, **kwargs)
        except psycopg.OperationalError:
            DATABASE.failed()
            raise
        DATABASE.succeeded()
        return connection


class FailFast:
    """Django's pool as Django uses it, but `getconn` gives up at once while the database
    is unreachable (everything else goes to the pool itself)."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool

    def __getattr__(self, name):
        return getattr(self._pool, name)

    def getconn(self, timeout: float | None = None):
        deadline = time.monotonic() + (self._pool.timeout if timeout is None else timeout)
        while True:
            try:
                return self._pool.getconn(timeout=DATABASE.wait_for(deadline - time.monotonic()))
            except PoolTimeout:
                if DATABASE.unreachable or time.monotonic() >= deadline:
                    raise


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        return None if pool is None else FailFast(pool)
