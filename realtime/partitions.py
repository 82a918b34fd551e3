"""The event log partitioned by time (PostgreSQL): one partition per EVENT_PARTITION_DAYS
(7 by default) of `created_at`, created ahead by `db_maintenance`, dropped whole by retention.

The log grows with every DM times its recipients; deleting expired rows one by one costs as
much write work as writing them did, and leaves dead tuples for vacuum. A partition past the
retention period is dropped instead: its disk comes back at once. (What is kept is therefore
between EVENT_RETENTION_DAYS and that plus one partition's span.)

Layout (migration 0004): `realtime_event` partitioned by RANGE (created_at), partitions named
`realtime_event_pYYYYMMDD` after the day they start (aligned to Mondays, 1970-01-05 + k x
span), and `realtime_event_default` for any row no range takes (a maintenance that did not
run in time, a restored backup from long ago): no insert ever fails for want of a partition.
Ids come from one sequence for every partition, so they stay unique and increasing; the wire
id (`seq`, per recipient) is numbered by `EventSequence` as before.

Locks: a new partition is built as a table of its own and ATTACHed (SHARE UPDATE EXCLUSIVE
on the log: reads and inserts go on; rows the default partition holds for its range move
into it first). Dropping one takes the log's ACCESS EXCLUSIVE lock for an instant. Every
step runs under `lock_timeout`: one that cannot get its lock in time gives up and the next
run does it, so no writer ever queues behind it for longer than that.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from realtime.models import Event

PARENT = Event._meta.db_table
DEFAULT = f"{PARENT}_default"
EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: weekly partitions start on Mondays
BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime


def span() -> timedelta:
    return timedelta(days=settings.EVENT_PARTITION_DAYS)


def floor(moment: datetime) -> datetime:
    """The start of the partition `moment` falls in."""
    periods = (moment - EPOCH) // span()
    return EPOCH + periods * span()


def name_for(start: datetime) -> str:
    return f"{PARENT}_p{start:%Y%m%d}"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [PARENT])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partitions() -> list[Partition]:
    """The range partitions, oldest first (the default partition is not among them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
            [PARENT],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = BOUND.search(bound or "")
        if match:
            start, end = (datetime.fromisoformat(value).astimezone(UTC) for value in match.groups())
            found.append(Partition(name, start, end))
    return sorted(found, key=lambda p: p.start)


def missing(*, now: datetime, ahead: int) -> list[tuple[datetime, datetime]]:
    """Ranges to create so that partitions reach `ahead` spans past the current one: from the
    end of the newest partition (or the current span's start when there is none)."""
    existing = partitions()
    start = existing[-1].end if existing else floor(now)
    until = floor(now) + (ahead + 1) * span()
    ranges = []
    while start < until:
        end = floor(start) + span()
        ranges.append((start, end))
        start = end
    return ranges


def _lock_timeout(cursor, lock_timeout_ms: int) -> None:
    cursor.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")


def _count_default(cursor, start: datetime, end: datetime) -> int:
    cursor.execute(f"SELECT count(*) FROM {DEFAULT} WHERE created_at >= %s AND created_at < %s", [start, end])
    return cursor.fetchone()[0]


def default_rows(start: datetime, end: datetime) -> int:
    with connection.cursor() as cursor:
        return _count_default(cursor, start, end)


def create(start: datetime, end: datetime, *, lock_timeout_ms: int) -> int:
    """Creates and attaches the partition [start, end); returns how many rows it took over
    from the default partition."""
    name = name_for(start)
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_timeout(cursor, lock_timeout_ms)
        cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        # A CHECK matching the range spares ATTACH its validation scan.
        cursor.execute(
            f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK (created_at >= %s AND created_at < %s)",
            [start, end],
        )
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE created_at >= %s AND created_at < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        moved = cursor.rowcount
        cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end])
        cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")
    return max(moved, 0)


def expired(*, cutoff: datetime) -> list[Partition]:
    """Partitions whose every row is older than `cutoff`."""
    return [p for p in partitions() if p.end <= cutoff]


def size(name: str) -> tuple[int, int]:
    """(rows, bytes) of one partition."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), pg_total_relation_size(%s::regclass) FROM {name}", [name])
        rows, total = cursor.fetchone()
    return rows, total


def drop(partition: Partition, *, lock_timeout_ms: int) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_timeout(cursor, lock_timeout_ms)
        cursor.execute(f"DROP TABLE {partition.name}")


def default_older(*, cutoff: datetime) -> int:
    """Rows of the default partition past retention (what `prune_default` would delete)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DEFAULT} WHERE created_at < %s", [cutoff])
        return cursor.fetchone()[0]


def prune_default(*, cutoff: datetime) -> int:
    """Deletes rows past retention that the default partition holds (it is never dropped)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {DEFAULT} WHERE created_at < %s", [cutoff])
        return max(cursor.rowcount, 0)


def now() -> datetime:
    return datetime.now(UTC)
