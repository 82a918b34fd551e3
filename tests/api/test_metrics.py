"""/metrics reports the database's figures, read from PostgreSQL's statistics and cached a
few seconds (core/dbstats.py): each one moves when the database does what it counts.

A second connection (psycopg, autocommit) plays the rest of the world: it writes, holds a
transaction open, makes dead tuples; `pg_stat_force_next_flush()` makes it publish its
statistics at once instead of within PostgreSQL's flush interval."""

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from core.dbstats import COLLECTOR
from realtime import events
from realtime.models import Event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.POSTGRES, reason="the database's figures are PostgreSQL's"),
]


def scrape(client, *, fresh: bool = True) -> dict[tuple, float]:
    """/metrics as {(sample name, sorted labels): value}; `fresh` skips the cache."""
    if fresh:
        COLLECTOR.invalidate()
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def other():
    """Another session on the test database, as another process would have."""
    db = settings.DATABASES["default"]
    conn = psycopg.connect(
        dbname=db["NAME"], user=db["USER"], password=db.get("PASSWORD") or None, host=db["HOST"], port=db["PORT"]
    )
    conn.autocommit = True
    yield conn
    conn.close()


def flush(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_stat_force_next_flush()")


@pytest.fixture
def probe_table(other):
    other.execute("DROP TABLE IF EXISTS metrics_probe")
    other.execute("CREATE TABLE metrics_probe (id serial PRIMARY KEY, v text)")
    yield "metrics_probe"
    other.execute("DROP TABLE IF EXISTS metrics_probe")


def test_the_database_is_up_and_its_figures_are_cached(client, other, probe_table):
    # given: a reading
    first = scrape(client)
    assert value(first, "instaclone_db_up") == 1
    assert value(first, "instaclone_db_max_connections") > 0
    assert value(first, "instaclone_db_size_bytes") > 0
    # when: the table grows, but the cache is young
    other.execute("INSERT INTO metrics_probe (v) SELECT repeat('x', 100) FROM generate_series(1, 2000)")
    cached = scrape(client, fresh=False)
    # then: the same reading
    assert value(cached, "instaclone_db_table_size_bytes", table=probe_table) == value(
        first, "instaclone_db_table_size_bytes", table=probe_table
    )
    # and a fresh one sees it
    assert value(scrape(client), "instaclone_db_table_size_bytes", table=probe_table) > value(
        first, "instaclone_db_table_size_bytes", table=probe_table
    )


def test_pool_connections_in_use_and_size(client):
    # given
    before = scrape(client)
    assert value(before, "instaclone_db_pool_size", pool="django") == settings.DB_POOL_SIZE
    held, release = threading.Event(), threading.Event()

    def hold():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            held.set()
            release.wait(10)
        connection.close()

    # when: another thread holds a pooled connection
    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    try:
        during = scrape(client)
    finally:
        release.set()
        thread.join()
    # then
    in_use = ("instaclone_db_pool_connections", {"pool": "django", "state": "in_use"})
    assert value(during, in_use[0], **in_use[1]) == value(before, in_use[0], **in_use[1]) + 1
    assert value(scrape(client), in_use[0], **in_use[1]) == value(before, in_use[0], **in_use[1])


def test_transactions_and_cache_blocks_are_counted(client, other, probe_table):
    # given
    before = scrape(client)
    # when: three commits and a rollback elsewhere, reading a table
    for _ in range(3):
        with other.transaction():
            other.execute("INSERT INTO metrics_probe (v) VALUES ('x')")
    try:
        with other.transaction():
            other.execute("SELECT count(*) FROM metrics_probe")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    flush(other)
    after = scrape(client)
    # then
    commits = "instaclone_db_transactions_total"
    assert value(after, commits, result="commit") >= value(before, commits, result="commit") + 3
    assert value(after, commits, result="rollback") >= value(before, commits, result="rollback") + 1
    assert value(after, "instaclone_db_blocks_total", source="hit") > value(
        before, "instaclone_db_blocks_total", source="hit"
    )
    assert 0 < value(after, "instaclone_db_cache_hit_ratio") <= 1


def test_dead_tuples_table_and_index_sizes_move(client, other, probe_table):
    # given
    other.execute("INSERT INTO metrics_probe (v) SELECT 'x' FROM generate_series(1, 1000)")
    flush(other)
    before = scrape(client)
    # when: every row is rewritten (1,000 dead versions), and the table and its index grow
    other.execute("UPDATE metrics_probe SET v = 'y'")
    other.execute("INSERT INTO metrics_probe (v) SELECT repeat('z', 200) FROM generate_series(1, 5000)")
    flush(other)
    after = scrape(client)
    # then
    dead = value(after, "instaclone_db_table_dead_tuples", table=probe_table)
    assert dead - value(before, "instaclone_db_table_dead_tuples", table=probe_table) >= 1000
    assert value(after, "instaclone_db_table_live_tuples", table=probe_table) >= 6000
    assert value(after, "instaclone_db_table_size_bytes", table=probe_table) > value(
        before, "instaclone_db_table_size_bytes", table=probe_table
    )
    index = {"table": probe_table, "index": "metrics_probe_pkey"}
    assert value(after, "instaclone_db_index_size_bytes", **index) > value(
        before, "instaclone_db_index_size_bytes", **index
    )


def test_oldest_open_transaction_and_connections_by_state(client, other):
    # given
    before = scrape(client)
    assert value(before, "instaclone_db_oldest_transaction_seconds") < 1
    # when: another session sits in an open transaction
    other.autocommit = False
    other.execute("SELECT 1")
    time.sleep(1.2)
    during = scrape(client)
    other.rollback()
    other.autocommit = True
    # then
    assert value(during, "instaclone_db_oldest_transaction_seconds") >= 1.2
    state = {"state": "idle in transaction"}
    assert value(during, "instaclone_db_server_connections", **state) >= 1
    assert value(scrape(client), "instaclone_db_oldest_transaction_seconds") < 1


def test_event_log_size_rows_and_oldest_event(client, other, user, other_user):
    # given: an empty log
    before = scrape(client)
    assert value(before, "instaclone_event_log_oldest_seconds") == 0
    # when: events are appended, the first of them an hour old
    with transaction.atomic():
        for n in range(300):
            events.append(user_ids=[user.pk, other_user.pk], kind="notification.new", data={"n": n, "pad": "x" * 200})
    first = Event.objects.order_by("id").first()
    Event.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(hours=1))
    other.execute("ANALYZE realtime_event")
    after = scrape(client)
    # then
    assert value(after, "instaclone_event_log_oldest_seconds") >= 3600
    assert value(after, "instaclone_event_log_bytes") > value(before, "instaclone_event_log_bytes")
    assert value(after, "instaclone_event_log_rows") >= 600


def test_replication_lag_is_absent_without_a_standby(client):
    samples = scrape(client)
    assert not [key for key in samples if key[0] == "instaclone_db_replication_lag_seconds"]
