"""`manage.py db_maintenance`: the statistics decide, --dry-run only tells, each step says
what it freed, a lock it cannot get in time skips the step, and the prunes run after."""

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from core import maintenance
from realtime import events
from realtime.models import Event

ROOT = Path(__file__).resolve().parents[2]
postgres_only = pytest.mark.skipif(not settings.POSTGRES, reason="the statistics are PostgreSQL's")


@pytest.fixture
def other():
    db = settings.DATABASES["default"]
    conn = psycopg.connect(
        dbname=db["NAME"], user=db["USER"], password=db.get("PASSWORD") or None, host=db["HOST"], port=db["PORT"]
    )
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def probe(other):
    """A table of 20,000 rows with an index on `v`, of which 18,000 were then deleted: dead
    tuples, and an index nine tenths empty once they are vacuumed away."""
    other.execute("DROP TABLE IF EXISTS maint_probe")
    other.execute("CREATE TABLE maint_probe (id serial PRIMARY KEY, v int)")
    other.execute("CREATE INDEX maint_probe_v ON maint_probe (v)")
    other.execute("INSERT INTO maint_probe (v) SELECT g FROM generate_series(1, 20000) g")
    other.execute("ANALYZE maint_probe")
    other.execute("DELETE FROM maint_probe WHERE id % 10 <> 0")
    other.execute("SELECT pg_stat_force_next_flush()")
    yield "maint_probe"
    other.execute("DROP TABLE IF EXISTS maint_probe")


def dead_tuples(conn, table: str) -> int:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s", [table]).fetchone()[0]


def run(*args) -> str:
    out = StringIO()
    call_command("db_maintenance", "--no-progress", *args, stdout=out)
    return out.getvalue()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_dry_run_prints_the_plan_with_its_numbers_and_changes_nothing(other, probe):
    # when
    output = run("--dry-run")
    # then: the vacuum is planned with the figures behind it
    line = next(line for line in output.splitlines() if '"maint_probe"' in line)
    assert re.match(
        r'VACUUM \(ANALYZE\) "maint_probe": 18,000 dead tuples > [\d,]+ \(1,000 \+ 0.05 x [\d,]+ live\); ~[\d,]+ bytes$',
        line.strip(),
    ), line
    assert "Prunes: 0 event(s) older than 30 day(s)" in output
    assert dead_tuples(other, probe) == 18000


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_vacuum_then_reindex_each_say_what_they_freed(other, probe):
    # when: the first run vacuums the table
    first = run()
    # then
    assert re.search(r'VACUUM \(ANALYZE\) "maint_probe": dead tuples 18,000 -> 0 \(freed 18,000\)', first), first
    assert dead_tuples(other, probe) == 0
    # when: the next run finds the index nine tenths empty (by the statistics' estimate)
    plan = run("--dry-run", "--reindex-min-bytes", "0")
    assert re.search(r'REINDEX INDEX CONCURRENTLY "maint_probe_v": bloat (8\d|9\d)% > 30%', plan), plan
    second = run("--reindex-min-bytes", "0")
    # then: it is rebuilt smaller, and nothing invalid is left behind
    freed = re.search(r'REINDEX INDEX CONCURRENTLY "maint_probe_v": index ([\d,]+) -> ([\d,]+) bytes', second)
    assert freed, second
    before, after = (int(n.replace(",", "")) for n in freed.groups())
    assert after < before / 3
    invalid = other.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()[0]
    assert invalid == 0
    # and a third run has nothing left to do on it
    assert "maint_probe" not in run("--dry-run", "--reindex-min-bytes", "0")


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_pgstatindex_measures_bloat_where_pgstattuple_is_installed(other, probe):
    other.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
    try:
        run()  # the vacuum
        plan = run("--dry-run", "--reindex-min-bytes", "0")
        assert "index bloat pgstatindex" in plan
        assert re.search(r'"maint_probe_v": bloat \d+% > 30%: leaf density \d+% \(pgstatindex\)', plan), plan
    finally:
        other.execute("DROP EXTENSION IF EXISTS pgstattuple")


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_step_whose_lock_is_taken_gives_up_within_lock_timeout(other, probe):
    # given: another session holds the table exclusively
    other.autocommit = False
    other.execute("LOCK TABLE maint_probe IN ACCESS EXCLUSIVE MODE")
    try:
        # when
        started = time.monotonic()
        output = run("--lock-timeout", "0.5")
        took = time.monotonic() - started
    finally:
        other.rollback()
        other.autocommit = True
    # then: the step was skipped after half a second, the run went on and succeeded
    assert re.search(r'VACUUM \(ANALYZE\) "maint_probe": skipped: its lock was not free within lock_timeout', output)
    assert "prune events:" in output
    assert took < 5
    assert dead_tuples(other, probe) == 18000


@pytest.mark.django_db(transaction=True)
def test_prunes_old_events_and_expired_sessions(user, settings):
    # given: three events, one past retention; an expired and a live session
    settings.EVENT_RETENTION_DAYS = 30
    for n in range(3):
        with transaction.atomic():
            events.append(user_ids=[user.pk], kind="notification.new", data={"n": n})
    Event.objects.filter(seq=1).update(created_at=timezone.now() - timedelta(days=31))
    Session.objects.create(session_key="a" * 32, session_data="", expire_date=timezone.now() - timedelta(days=1))
    Session.objects.create(session_key="b" * 32, session_data="", expire_date=timezone.now() + timedelta(days=1))
    # when
    planned = run("--dry-run")
    # then
    assert "Prunes: 1 event(s) older than 30 day(s)" in planned and "1 expired session(s)" in planned
    assert Event.objects.count() == 3
    # when
    output = run()
    # then
    assert "prune events: deleted 1 older than 30 day(s)" in output
    assert "prune sessions: deleted 1 expired" in output
    assert sorted(Event.objects.values_list("seq", flat=True)) == [2, 3]
    assert list(Session.objects.values_list("session_key", flat=True)) == ["b" * 32]


def test_bad_flags_are_refused():
    with pytest.raises(CommandError):
        run("--reindex-bloat", "1.5")
    with pytest.raises(CommandError):
        run("--lock-timeout", "0")


def test_estimated_bloat_of_a_tight_and_a_sparse_index():
    # 10,000 int4 keys need about 28 pages at 90% fill
    assert maintenance.estimated_bloat(pages=30, rows=10_000, key_width=4) < 0.1
    assert maintenance.estimated_bloat(pages=300, rows=10_000, key_width=4) > 0.85


def test_on_sqlite_it_vacuums_and_analyzes_and_says_what_it_skipped(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
        "PYTHONWARNINGS": "ignore",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    result = subprocess.run(
        [sys.executable, "manage.py", "db_maintenance", "--no-progress"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "skipped: REINDEX and the statistics-driven thresholds" in result.stdout
    assert re.search(r"^ANALYZE: [\d,]+ -> [\d,]+ pages", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^VACUUM: [\d,]+ -> [\d,]+ pages \(freed [\d,]+\)", result.stdout, re.MULTILINE)
    assert "prune events: deleted 0" in result.stdout


partitioned_only = pytest.mark.skipif(not settings.POSTGRES, reason="the event log is partitioned on PostgreSQL")


def partition_of(event_id: int) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM realtime_event WHERE id = %s", [event_id])
        return cursor.fetchone()[0]


@partitioned_only
@pytest.mark.django_db(transaction=True)
def test_the_event_log_is_partitioned_by_time_with_ids_unique_and_increasing(user, other_user):
    from realtime import partitions

    # given: the migration's partitions reach two spans past the current one
    assert partitions.is_partitioned()
    existing = partitions.partitions()
    now = partitions.now()
    assert existing[0].start <= now and existing[-1].end == partitions.floor(now) + 3 * partitions.span()
    # when: events are appended
    for n in range(3):
        with transaction.atomic():
            events.append(user_ids=[user.pk, other_user.pk], kind="notification.new", data={"n": n})
    # then: they land in the current partition, ids unique and increasing, seq per recipient
    rows = list(Event.objects.order_by("id").values_list("id", "user_id", "seq"))
    ids = [row[0] for row in rows]
    assert ids == sorted(set(ids))
    assert [seq for _, uid, seq in rows if uid == user.pk] == [1, 2, 3]
    assert partition_of(ids[-1]) == partitions.name_for(partitions.floor(now))


@partitioned_only
@pytest.mark.django_db(transaction=True)
def test_maintenance_creates_partitions_ahead_taking_rows_from_the_default_and_drops_expired_ones(user, settings):
    from realtime import partitions

    settings.EVENT_RETENTION_DAYS = 30
    span = partitions.span()
    now = partitions.now()
    # given: the newest partition is missing (a maintenance that did not run), so an event of
    # that span went to the default partition
    newest = partitions.partitions()[-1]
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {newest.name}")
    with transaction.atomic():
        events.append(user_ids=[user.pk], kind="notification.new", data={"n": 0})
    future = Event.objects.get()
    Event.objects.filter(pk=future.pk).update(created_at=newest.start + timedelta(hours=1))
    assert partition_of(future.pk) == partitions.DEFAULT
    # and an old partition, six spans back, whole past retention, holding two events
    old_start = partitions.floor(now) - 6 * span
    partitions.create(old_start, old_start + span, lock_timeout_ms=1000)
    for n in (1, 2):
        with transaction.atomic():
            events.append(user_ids=[user.pk], kind="notification.new", data={"n": n})
    Event.objects.filter(seq__in=[2, 3]).update(created_at=old_start + timedelta(days=1))
    assert partition_of(Event.objects.get(seq=2).pk) == partitions.name_for(old_start)
    # when: the plan
    plan = run("--dry-run")
    # then
    assert f"create {newest.name}" in plan and "taking 1 row(s) from the default partition" in plan
    assert f"drop {partitions.name_for(old_start)}" in plan and ": 2 event(s)" in plan
    assert "Prunes: 2 event(s) older than 30 day(s)" in plan
    # when: it runs
    output = run()
    # then: the missing partition is back with its row, the expired one is gone with its two
    assert f"create partition {newest.name}" in output and "took 1 row(s) over from the default partition" in output
    assert re.search(rf"drop partition {partitions.name_for(old_start)}: 2 event\(s\), freed [\d,]+ bytes", output)
    assert "prune events: deleted 2 older than 30 day(s)" in output
    assert partition_of(future.pk) == newest.name
    assert list(Event.objects.values_list("seq", flat=True)) == [1]
    assert [p.name for p in partitions.partitions()][-1] == newest.name


@pytest.mark.django_db(transaction=True)
def test_the_apps_prunes_run_after_the_database_steps(user):
    from feed.models import Story

    # given: a story that expired a day ago, and a live one
    past = timezone.now() - timedelta(hours=48)
    Story.objects.create(author=user, image="", created_at=past, expires_at=past + timedelta(hours=24))
    live = Story.objects.create(
        author=user, image="", created_at=timezone.now(), expires_at=timezone.now() + timedelta(hours=24)
    )
    # when
    planned = run("--dry-run")
    # then
    assert "1 expired stories" in planned and Story.objects.count() == 2
    # when
    output = run()
    # then
    assert "prune expired stories: deleted 1" in output
    assert list(Story.objects.values_list("pk", flat=True)) == [live.pk]
