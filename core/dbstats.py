"""The database's figures at /metrics: read from PostgreSQL's own statistics at scrape time,
cached for DB_STATS_SECONDS (5 by default), so however many scrapers ask, a node reads them
at most once per period.

What it reads (a handful of catalog queries, each bounded by a statement timeout):
`pg_stat_database` (transactions, block hits and reads, size), `pg_stat_activity` (server
connections by state, the oldest open transaction), `pg_stat_user_tables` and
`pg_stat_user_indexes` (live and dead tuples and size per table, size per index), the event
log's size and its oldest event, and replication lag: on a primary, `pg_stat_replication`
per standby; with a replica configured (DATABASE_REPLICA_URL), the replica's own replay
delay. The connection pools report themselves (core.metrics.POOLS). A scrape while
PostgreSQL is away answers at once with `instaclone_db_up 0` and the pools' figures.

Only on PostgreSQL; on SQLite only the pools (none) and `instaclone_db_up` are reported.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from core import replica
from core.metrics import POOLS, pool_register

log = logging.getLogger(__name__)

# The event log's table (realtime.models.Event): core names it rather than importing the app.
EVENT_TABLE = "realtime_event"
STATEMENT_TIMEOUT_MS = 2000
LOCK_TIMEOUT_MS = 500

DATABASE_SQL = """
SELECT xact_commit, xact_rollback, blks_hit, blks_read, deadlocks, pg_database_size(datname),
       current_setting('max_connections')::int
FROM pg_stat_database WHERE datname = current_database()
"""
CONNECTIONS_SQL = """
SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' GROUP BY 1
"""
OLDEST_TRANSACTION_SQL = """
SELECT coalesce(extract(epoch FROM max(clock_timestamp() - xact_start)), 0)::float8 FROM pg_stat_activity
WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
"""
TABLES_SQL = """
SELECT relname, n_live_tup, n_dead_tup, pg_total_relation_size(relid)
FROM pg_stat_user_tables WHERE schemaname = current_schema()
"""
INDEXES_SQL = """
SELECT relname, indexrelname, pg_relation_size(indexrelid)
FROM pg_stat_user_indexes WHERE schemaname = current_schema()
"""
# The log's tables (itself, and its partitions when it is partitioned): bytes and rows
# (the planner's estimate, no count), and the oldest event's age (the created_at index).
# nosec B608 below: the table name is the model's own, never input.
EVENT_LOG_SQL = f"""
SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0)::bigint,
       coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint,
       (SELECT extract(epoch FROM clock_timestamp() - min(created_at))::float8 FROM {EVENT_TABLE})
FROM (SELECT relid FROM pg_partition_tree('{EVENT_TABLE}'::regclass) UNION SELECT '{EVENT_TABLE}'::regclass) t
JOIN pg_class c ON c.oid = t.relid
"""  # nosec B608
STANDBYS_SQL = """
SELECT coalesce(nullif(application_name, ''), client_addr::text, 'standby'),
       coalesce(extract(epoch FROM replay_lag), 0)::float8
FROM pg_stat_replication
"""


COUNTERS = ("instaclone_db_transactions", "instaclone_db_blocks", "instaclone_db_deadlocks")
GAUGES = (
    "instaclone_db_pool_connections",
    "instaclone_db_pool_size",
    "instaclone_db_up",
    "instaclone_db_cache_hit_ratio",
    "instaclone_db_size_bytes",
    "instaclone_db_max_connections",
    "instaclone_db_server_connections",
    "instaclone_db_oldest_transaction_seconds",
    "instaclone_db_table_live_tuples",
    "instaclone_db_table_dead_tuples",
    "instaclone_db_table_size_bytes",
    "instaclone_db_index_size_bytes",
    "instaclone_event_log_bytes",
    "instaclone_event_log_rows",
    "instaclone_event_log_oldest_seconds",
    "instaclone_db_replication_lag_seconds",
)


def _cache_seconds() -> float:
    return float(getattr(settings, "DB_STATS_SECONDS", 5.0))


def _django_pool() -> tuple[int, int, int]:
    pool = getattr(connections["default"], "pool", None)
    if pool is None:
        return 0, 0, 0
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    return max(0, size - idle), idle, stats.get("pool_max", 0)


def _query(alias: str, sql: str) -> list[tuple]:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _read(alias: str) -> list:
    """One reading of the primary's figures (and the replica's lag, when there is one)."""
    families: list = []
    with transaction.atomic(using=alias):
        _query(alias, f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        # Sizes take a relation's lightest lock: behind a migration's, give up quickly.
        _query(alias, f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
        (commits, rollbacks, hits, reads, deadlocks, size, max_connections), *_ = _query(alias, DATABASE_SQL)
        transactions = CounterMetricFamily(
            "instaclone_db_transactions", "Transactions of the app's database", labels=["result"]
        )
        transactions.add_metric(["commit"], commits)
        transactions.add_metric(["rollback"], rollbacks)
        blocks = CounterMetricFamily(
            "instaclone_db_blocks", "Blocks the database read: from its cache (hit) or not (read)", labels=["source"]
        )
        blocks.add_metric(["hit"], hits)
        blocks.add_metric(["read"], reads)
        families += [
            transactions,
            blocks,
            GaugeMetricFamily(
                "instaclone_db_cache_hit_ratio",
                "Share of block reads served from PostgreSQL's cache since its statistics were reset",
                value=hits / (hits + reads) if hits + reads else 1.0,
            ),
            CounterMetricFamily("instaclone_db_deadlocks", "Deadlocks detected", value=deadlocks),
            GaugeMetricFamily("instaclone_db_size_bytes", "Size of the app's database", value=size),
            GaugeMetricFamily("instaclone_db_max_connections", "PostgreSQL's max_connections", value=max_connections),
        ]
        by_state = GaugeMetricFamily(
            "instaclone_db_server_connections", "Server connections to the app's database by state", labels=["state"]
        )
        for state, count in _query(alias, CONNECTIONS_SQL):
            by_state.add_metric([state], count)
        families.append(by_state)
        ((oldest,),) = _query(alias, OLDEST_TRANSACTION_SQL)
        families.append(
            GaugeMetricFamily(
                "instaclone_db_oldest_transaction_seconds",
                "Age of the oldest open transaction on the app's database (it holds back vacuum)",
                value=oldest,
            )
        )
        live = GaugeMetricFamily("instaclone_db_table_live_tuples", "Live rows per table (estimate)", labels=["table"])
        dead = GaugeMetricFamily("instaclone_db_table_dead_tuples", "Dead rows per table", labels=["table"])
        table_size = GaugeMetricFamily(
            "instaclone_db_table_size_bytes", "Size per table with its indexes and TOAST", labels=["table"]
        )
        for name, n_live, n_dead, total in _query(alias, TABLES_SQL):
            live.add_metric([name], n_live)
            dead.add_metric([name], n_dead)
            table_size.add_metric([name], total)
        index_size = GaugeMetricFamily("instaclone_db_index_size_bytes", "Size per index", labels=["table", "index"])
        for table, index, total in _query(alias, INDEXES_SQL):
            index_size.add_metric([table, index], total)
        families += [live, dead, table_size, index_size]
        ((log_bytes, log_rows, log_oldest),) = _query(alias, EVENT_LOG_SQL)
        families += [
            GaugeMetricFamily("instaclone_event_log_bytes", "Size of the event log with its indexes", value=log_bytes),
            GaugeMetricFamily(
                "instaclone_event_log_rows", "Events in the log (the planner's estimate)", value=log_rows
            ),
            GaugeMetricFamily(
                "instaclone_event_log_oldest_seconds",
                "Age of the oldest event in the log (0 when it is empty)",
                value=log_oldest or 0.0,
            ),
        ]
        lag = GaugeMetricFamily(
            "instaclone_db_replication_lag_seconds", "How far a replica's replay is behind", labels=["replica"]
        )
        for name, seconds in _query(alias, STANDBYS_SQL):
            lag.add_metric([name], seconds)
    if replica.configured():
        # The router's own reading (at most every REPLICA_CHECK_SECONDS); absent while the
        # replica does not answer.
        replica.HEALTH.check()
        if replica.HEALTH.lag is not None:
            lag.add_metric(["replica"], replica.HEALTH.lag)
    families.append(lag)
    return families


class DatabaseCollector(Collector):
    def __init__(self, alias: str = "default"):
        self.alias = alias
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._families: list = []
        self._up = 0

    def describe(self) -> Iterator:
        """The names this collector yields, without reading anything (for registration)."""
        for name in COUNTERS:
            yield CounterMetricFamily(name, name)
        for name in GAUGES:
            yield GaugeMetricFamily(name, name)

    def invalidate(self) -> None:
        """The next collect reads afresh (tests)."""
        with self._lock:
            self._read_at = float("-inf")

    def _refresh(self) -> None:
        if time.monotonic() - self._read_at < _cache_seconds() or _in_event_loop():
            # (a registry read on an event loop's thread keeps the last reading rather than
            # block the loop on the database: the /metrics view reads in a worker thread)
            return
        try:
            self._families, self._up = _read(self.alias), 1
        except DatabaseError:
            log.warning("dbstats: could not read the database's statistics", exc_info=True)
            self._families, self._up = [], 0
        self._read_at = time.monotonic()

    def collect(self) -> Iterator:
        if getattr(settings, "POSTGRES", False):
            with self._lock:
                self._refresh()
                families, up = list(self._families), self._up
        else:
            families, up = [], 1
        yield GaugeMetricFamily("instaclone_db_up", "Whether the database's statistics could be read", value=up)
        yield from families
        # After the reading, so a scrape that borrowed a connection for it counts it.
        in_use = GaugeMetricFamily(
            "instaclone_db_pool_connections", "Connections of this process's pools by state", labels=["pool", "state"]
        )
        size = GaugeMetricFamily("instaclone_db_pool_size", "Largest size of this process's pools", labels=["pool"])
        for name, stats in sorted(POOLS.items()):
            busy, idle, most = stats()
            in_use.add_metric([name, "in_use"], busy)
            in_use.add_metric([name, "idle"], idle)
            size.add_metric([name], most)
        yield in_use
        yield size


pool_register(name="django", stats=_django_pool)
COLLECTOR = DatabaseCollector()
REGISTRY.register(COLLECTOR)
