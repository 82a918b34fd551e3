"""Statistics-driven PostgreSQL maintenance (the plan and its steps; run by `db_maintenance`).

PostgreSQL's own statistics say what is due:
- `VACUUM (ANALYZE)` on a table whose dead tuples (`pg_stat_user_tables.n_dead_tup`) exceed
  `vacuum_threshold + vacuum_scale * live tuples` (autovacuum's rule, with tighter defaults);
- `ANALYZE` on a table not vacuumed here whose rows changed since its last analyze
  (`n_mod_since_analyze`) exceed `analyze_threshold + analyze_scale * live tuples`, or that was
  never analyzed;
- `REINDEX INDEX CONCURRENTLY` on a B-tree index of at least `reindex_min_bytes` whose bloat
  exceeds `reindex_bloat`: measured by `pgstatindex()` where the pgstattuple extension is
  installed (1 - leaf density / 90%, the default fill factor), estimated otherwise from
  `pg_class` and `pg_stats` (the pages its rows need at 90% fill against the pages it has).

Apps register their own prunes (`prune_register`: expired stories, ...), run after these.

Every step runs on a connection of its own in autocommit with `lock_timeout` set: VACUUM,
ANALYZE and REINDEX CONCURRENTLY take only SHARE UPDATE EXCLUSIVE locks (reads and writes go
on), and a step that cannot get its lock within the bound gives up (reported, the rest goes
on) instead of queueing writers behind it. A REINDEX CONCURRENTLY that fails leaves an invalid
`*_ccnew` index behind: it is dropped (CONCURRENTLY) before the next step.
"""

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections

# B-tree leaves are filled to 90% by default: a fresh index's leaf density.
BTREE_FILL = 0.90
PAGE_BYTES = 8192
PAGE_HEADER_BYTES = 24
LINE_POINTER_BYTES = 4
INDEX_TUPLE_HEADER_BYTES = 8


@dataclass(frozen=True)
class Prune:
    """An app's expired data, pruned after the database steps: `due()` counts what would go
    (for --dry-run), `run()` deletes it and returns how many went."""

    name: str
    due: Callable[[], int]
    run: Callable[[], int]


# What the apps register in their AppConfig.ready() (core imports no app).
PRUNES: dict[str, Prune] = {}


def prune_register(*, name: str, due: Callable[[], int], run: Callable[[], int]) -> None:
    PRUNES[name] = Prune(name, due, run)


@dataclass(frozen=True)
class Thresholds:
    vacuum_threshold: int = 1000
    vacuum_scale: float = 0.05
    analyze_threshold: int = 1000
    analyze_scale: float = 0.05
    reindex_bloat: float = 0.30
    reindex_min_bytes: int = 1024 * 1024


@dataclass
class Step:
    action: str  # "vacuum" | "analyze" | "reindex"
    target: str  # a table or an index
    table: str
    reason: str  # the numbers behind it
    result: str = ""
    ok: bool = True
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def sql(self) -> str:
        quoted = _quote(self.target)
        return {
            "vacuum": f"VACUUM (ANALYZE) {quoted}",
            "analyze": f"ANALYZE {quoted}",
            "reindex": f"REINDEX INDEX CONCURRENTLY {quoted}",
        }[self.action]

    def describe(self) -> str:
        return f"{self.sql}: {self.reason}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect(*, lock_timeout_ms: int, alias: str = "default") -> psycopg.Connection:
    """A connection of its own to the database `alias` names, in autocommit (VACUUM cannot run
    in a transaction), with the lock bound set. Straight to PostgreSQL: behind PgBouncer in
    transaction pooling a session setting would not stay with the statement."""
    db = settings.DATABASES[alias]
    kwargs: dict[str, Any] = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "connect_timeout": 10,
        "autocommit": True,
        "application_name": "db_maintenance",
        "options": f"-c lock_timeout={int(lock_timeout_ms)} -c TimeZone=UTC",
    }
    return psycopg.connect(**{key: value for key, value in kwargs.items() if value is not None})


def pgstattuple_installed(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pgstattuple'").fetchone()
    return row is not None


TABLES_SQL = """
SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze,
       coalesce(last_analyze, last_autoanalyze) IS NULL AS never_analyzed,
       (SELECT relpages::bigint * current_setting('block_size')::int FROM pg_class WHERE oid = relid)
FROM pg_stat_user_tables WHERE schemaname = current_schema() ORDER BY relname
"""

# Sizes here come from pg_class (as of the last VACUUM or ANALYZE): reading them takes no
# lock, so planning never waits behind a session that holds a table.
# Per B-tree index: its pages and rows, and the average width of its key columns from
# pg_stats (NULL when a column has no statistics yet, or the index is on an expression).
INDEXES_SQL = """
SELECT ic.relname, t.relname, ic.relpages, greatest(ic.reltuples, 0)::float8,
       ic.relpages::bigint * current_setting('block_size')::int,
       CASE WHEN 0 = ANY(i.indkey::int2[]) THEN NULL ELSE
         (SELECT CASE WHEN count(s.avg_width) = count(*) THEN sum(s.avg_width) END
          FROM unnest(i.indkey::int2[]) AS k(attnum)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = t.relname
                               AND s.attname = a.attname) END
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE am.amname = 'btree' AND i.indisvalid AND ic.relkind = 'i'
  AND t.relnamespace = current_schema()::regnamespace
ORDER BY ic.relname
"""


def estimated_bloat(*, pages: int, rows: float, key_width: float) -> float:
    """The share of an index's pages its rows do not need (0 for a tight index)."""
    if pages <= 1:
        return 0.0
    per_row = math.ceil((INDEX_TUPLE_HEADER_BYTES + key_width) / 8) * 8 + LINE_POINTER_BYTES
    needed = math.ceil(rows * per_row / ((PAGE_BYTES - PAGE_HEADER_BYTES) * BTREE_FILL)) + 1  # + the metapage
    return max(0.0, 1.0 - needed / pages)


def _bytes(size: int) -> str:
    return f"; ~{size:,} bytes" if size else ""


def plan_tables(conn: psycopg.Connection, thresholds: Thresholds) -> list[Step]:
    """The VACUUM and ANALYZE steps the statistics call for."""
    steps: list[Step] = []
    for name, live, dead, modified, never_analyzed, size in conn.execute(TABLES_SQL).fetchall():
        vacuum_at = thresholds.vacuum_threshold + thresholds.vacuum_scale * live
        analyze_at = thresholds.analyze_threshold + thresholds.analyze_scale * live
        if dead > vacuum_at:
            steps.append(
                Step(
                    "vacuum",
                    name,
                    name,
                    f"{dead:,} dead tuples > {vacuum_at:,.0f} ({thresholds.vacuum_threshold:,} + "
                    f"{thresholds.vacuum_scale:g} x {live:,} live){_bytes(size)}",
                )
            )
        elif modified > analyze_at or (never_analyzed and live > 0):
            why = "never analyzed" if never_analyzed and modified <= analyze_at else ""
            steps.append(
                Step(
                    "analyze",
                    name,
                    name,
                    why
                    or f"{modified:,} rows changed since the last analyze > {analyze_at:,.0f} "
                    f"({thresholds.analyze_threshold:,} + {thresholds.analyze_scale:g} x {live:,} live)",
                )
            )
    return steps


def plan_indexes(conn: psycopg.Connection, thresholds: Thresholds) -> list[Step]:
    """The REINDEX steps: judged after the tables' steps ran (a vacuum removes dead index
    entries, an analyze gives the estimate its key widths)."""
    steps: list[Step] = []
    measured = pgstattuple_installed(conn)
    for index, table, pages, rows, size, key_width in conn.execute(INDEXES_SQL).fetchall():
        if size < thresholds.reindex_min_bytes:
            continue
        if measured:
            try:
                ((density,),) = conn.execute(
                    "SELECT avg_leaf_density FROM pgstatindex(%s::regclass)", [index]
                ).fetchall()
            except psycopg.errors.LockNotAvailable:
                continue  # held by someone else: the next run judges it
            if density is None or math.isnan(density):
                continue
            bloat, how = max(0.0, 1.0 - density / (BTREE_FILL * 100)), f"leaf density {density:.0f}% (pgstatindex)"
        elif key_width is None:
            continue  # no statistics to estimate from (ANALYZE runs first; the next run judges it)
        else:
            bloat = estimated_bloat(pages=pages, rows=rows, key_width=float(key_width))
            how = f"{pages:,} pages for {rows:,.0f} rows of ~{key_width} bytes (estimate)"
        if bloat > thresholds.reindex_bloat or thresholds.reindex_bloat == 0:
            steps.append(
                Step(
                    "reindex",
                    index,
                    table,
                    f"bloat {bloat:.0%} {'>=' if thresholds.reindex_bloat == 0 else '>'} "
                    f"{thresholds.reindex_bloat:.0%}: {how}{_bytes(size)}",
                    extra={"bloat": bloat},
                )
            )
    return steps


def _table_figures(conn: psycopg.Connection, table: str) -> tuple[int, int]:
    row = conn.execute(
        "SELECT n_dead_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables "
        "WHERE schemaname = current_schema() AND relname = %s",
        [table],
    ).fetchone()
    return (row[0], row[1]) if row else (0, 0)


def _index_bytes(conn: psycopg.Connection, index: str) -> int:
    row = conn.execute("SELECT pg_relation_size(%s::regclass)", [index]).fetchone()
    return row[0] if row else 0


def _drop_leftovers(conn: psycopg.Connection, index: str) -> list[str]:
    """Drops the invalid copies a failed REINDEX CONCURRENTLY of `index` left."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
        "WHERE NOT i.indisvalid AND c.relname LIKE %s AND c.relnamespace = current_schema()::regnamespace",
        [index.replace("_", r"\_") + r"\_ccnew%"],
    ).fetchall()
    for (name,) in rows:
        conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_quote(name)}")
    return [name for (name,) in rows]


def run(conn: psycopg.Connection, step: Step) -> Step:
    """Runs one step and records what it freed (or why it could not run)."""
    started = time.monotonic()
    try:
        if step.action == "reindex":
            before = _index_bytes(conn, step.target)
            conn.execute(step.sql)
            after = _index_bytes(conn, step.target)
            change = f"freed {before - after:,}" if before >= after else f"grew {after - before:,}"
            step.result = f"index {before:,} -> {after:,} bytes ({change})"
        else:
            dead_before, size_before = _table_figures(conn, step.table)
            conn.execute(step.sql)
            conn.execute("SELECT pg_stat_clear_snapshot()")
            dead_after, size_after = _table_figures(conn, step.table)
            if step.action == "vacuum":
                step.result = (
                    f"dead tuples {dead_before:,} -> {dead_after:,} (freed {max(0, dead_before - dead_after):,}); "
                    f"{size_before:,} -> {size_after:,} bytes"
                )
            else:
                step.result = "statistics updated"
    except psycopg.errors.LockNotAvailable:
        step.ok, step.result = False, "skipped: its lock was not free within lock_timeout"
    except psycopg.Error as exc:
        step.ok, step.result = False, f"failed: {exc}".strip()
    if step.action == "reindex" and not step.ok:
        dropped = _drop_leftovers(conn, step.target)
        if dropped:
            step.result += f"; dropped the invalid leftover {', '.join(dropped)}"
    step.seconds = time.monotonic() - started
    return step


def sqlite_steps() -> Iterator[tuple[str, str]]:
    """(statement, what it does) for SQLite: the whole file at once, no thresholds."""
    yield "ANALYZE", "statistics for every table and index"
    yield "VACUUM", "rewrites the database file without its free pages"


def sqlite_run(statement: str, alias: str = "default") -> tuple[int, int]:
    """Runs one SQLite statement; returns the file's pages before and after."""
    with connections[alias].cursor() as cursor:
        cursor.execute("PRAGMA page_count")
        before = cursor.fetchone()[0]
        cursor.execute(statement)
        cursor.execute("PRAGMA page_count")
        return before, cursor.fetchone()[0]
