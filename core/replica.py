"""Reads from a PostgreSQL streaming replica (DATABASE_REPLICA_URL), writes on the primary.

Which reads: GET and HEAD requests to the routes named in REPLICA_READ_ROUTES (feed,
profiles, people search, posts and comments by default); everything else, every write and
every read inside a transaction, goes to the primary. Read-after-write: a credential (its
token or session cookie) that made a write request is pinned to the primary for
REPLICA_PIN_SECONDS, so a person sees what they just did even while the replica is behind.

A replica that falls behind or goes away only slows reads: its lag is checked at most every
REPLICA_CHECK_SECONDS per process (`pg_last_xact_replay_timestamp`, 0 when it has replayed
all it received), and past REPLICA_MAX_LAG_SECONDS, or while it does not answer, reads go to
the primary; a read that fails on the replica is retried once on the primary (GET and HEAD
only, so nothing is done twice).
"""

import contextvars
import hashlib
import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections

log = logging.getLogger(__name__)

REPLICA = "replica"
SAFE_METHODS = ("GET", "HEAD")
_reads_on_replica: contextvars.ContextVar[bool] = contextvars.ContextVar("reads_on_replica", default=False)

LAG_SQL = """
SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0) END::float8
"""


def configured() -> bool:
    return REPLICA in settings.DATABASES


class ReplicaRouter:
    """Django's router: reads on the replica only where the middleware allowed it."""

    def db_for_read(self, model, **hints):
        if _reads_on_replica.get() and not connections["default"].in_atomic_block:
            return REPLICA
        return "default"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same data on both

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"


class Health:
    """This process's view of the replica: usable while it answers and keeps up."""

    def __init__(self):
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self.usable = False
        self.lag: float | None = None

    def check(self, *, force: bool = False) -> bool:
        with self._lock:
            if not force and time.monotonic() - self._checked_at < settings.REPLICA_CHECK_SECONDS:
                return self.usable
            try:
                with connections[REPLICA].cursor() as cursor:
                    cursor.execute(LAG_SQL)
                    self.lag = cursor.fetchone()[0]
                self.usable = self.lag <= settings.REPLICA_MAX_LAG_SECONDS
            except DatabaseError:
                log.warning("replica: not answering; reads go to the primary", exc_info=True)
                self.lag, self.usable = None, False
                connections[REPLICA].close()
            self._checked_at = time.monotonic()
            return self.usable

    def failed(self) -> None:
        """A read on the replica just failed: that is the check. Reads go to the primary until
        the next one is due, without a second wait on a replica that does not answer."""
        with self._lock:
            self.lag, self.usable = None, False
            self._checked_at = time.monotonic()
        connections[REPLICA].close()


HEALTH = Health()


def _pin_key(request) -> str | None:
    credential = request.headers.get("Authorization") or request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not credential:
        return None
    return "replica-pin:" + hashlib.sha256(credential.encode()).hexdigest()[:32]


class ReplicaReadsMiddleware:
    """Sends the listed read routes to the replica while it is usable (after
    DatabaseUnavailableMiddleware, so a failure here is seen before it becomes a 503)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.replica_read = False
        pin = _pin_key(request)
        try:
            response = self.get_response(request)
        except DatabaseError:
            if not request.replica_read:
                raise
            response = None
        finally:
            _reads_on_replica.set(False)
        if request.replica_read and (response is None or response.status_code == 503):
            # The replica failed under this read: read from the primary, and from it alone
            # until the next check is due.
            HEALTH.failed()
            request.replica_read = False
            request.replica_retry = True
            try:
                response = self.get_response(request)
            finally:
                _reads_on_replica.set(False)
        elif request.method not in SAFE_METHODS and pin and response.status_code < 400:
            cache.set(pin, 1, settings.REPLICA_PIN_SECONDS)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(request, "replica_retry", False) or request.method not in SAFE_METHODS:
            return None
        match = request.resolver_match
        if match is None or match.url_name not in settings.REPLICA_READ_ROUTES:
            return None
        pin = _pin_key(request)
        if pin and cache.get(pin):
            return None
        if HEALTH.check():
            request.replica_read = True
            _reads_on_replica.set(True)
        return None
