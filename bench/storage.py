"""Disk per DM on PostgreSQL: bytes per event in the (partitioned) event log, events per DM,
bytes per stored message, and what a million DMs take.

Seeds a fresh database (its own, dropped afterwards) with PAIRS 1:1 conversations and GROUPS
conversations of GROUP_SIZE people, sends DMS messages through the real send path
(chat.services.message_send: chat's SQL function on PostgreSQL), and one read receipt per
READ_EVERY messages; then VACUUM ANALYZE and reads the tables' sizes (heap, indexes and TOAST
over every partition) from PostgreSQL.

    DATABASE_URL=postgres://postgres@localhost:5432/instaclone .venv/bin/python bench/storage.py [--dms 20000]
"""

import argparse
import os
import random
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import Database, server_env  # noqa: E402

SIZES_SQL = """
SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0)::bigint, coalesce(sum(pg_relation_size(t.relid)), 0)::bigint
FROM (SELECT relid FROM pg_partition_tree(%s::regclass) UNION SELECT %s::regclass) t
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dms", type=int, default=20000)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--group-size", type=int, default=5)
    parser.add_argument("--group-share", type=float, default=0.1, help="share of DMs sent in groups")
    parser.add_argument("--read-every", type=int, default=5, help="a read receipt per this many DMs (0: none)")
    parser.add_argument("--body", type=int, default=60, help="characters per message")
    args = parser.parse_args()

    database = Database(prefix="instaclone_bench_storage").migrate(server_env())
    os.environ.update({"DATABASE_URL": database.url, "DJANGO_SETTINGS_MODULE": "config.settings"})
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        database.drop()


def run(args) -> None:
    import django

    django.setup()
    from django.db import connection

    from chat.services import conversation_mark_read, conversation_open, message_send
    from tests.factories import UserFactory

    rng = random.Random(7)
    pairs = []
    for _ in range(args.pairs):
        a, b = UserFactory(), UserFactory()
        pairs.append(([a, b], conversation_open(creator=a, usernames=[b.username])[0].pk))
    groups = []
    for _ in range(args.groups):
        members = [UserFactory() for _ in range(args.group_size)]
        conversation = conversation_open(creator=members[0], usernames=[m.username for m in members[1:]])[0]
        groups.append((members, conversation.pk))
    body = "x" * args.body
    sent = {"pair": 0, "group": 0}
    reads = 0
    for n in range(args.dms):
        kind = "group" if rng.random() < args.group_share else "pair"
        members, conversation = rng.choice(groups if kind == "group" else pairs)
        sender = rng.choice(members)
        message, _ = message_send(sender=sender, conversation_id=conversation, body=body, client_id=str(uuid.uuid4()))
        sent[kind] += 1
        if args.read_every and n % args.read_every == 0:
            reader = rng.choice([m for m in members if m.pk != sender.pk])
            conversation_mark_read(user=reader, conversation_id=conversation, message_id=message.pk)
            reads += 1
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        figures = {}
        for table in ("realtime_event", "chat_message"):
            cursor.execute(f"SELECT count(*) FROM {table}")
            (rows,) = cursor.fetchone()
            cursor.execute(SIZES_SQL, [table, table])
            total, heap = cursor.fetchone()
            figures[table] = (rows, total, heap)
        cursor.execute("SELECT kind, count(*) FROM realtime_event GROUP BY kind ORDER BY kind")
        kinds = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM pg_partition_tree('realtime_event') WHERE isleaf")
        (leaves,) = cursor.fetchone()
    events, event_bytes, event_heap = figures["realtime_event"]
    messages, message_bytes, message_heap = figures["chat_message"]
    dms = sum(sent.values())
    per_event = event_bytes / events
    per_message = message_bytes / messages
    per_dm = events / dms
    print(f"{dms:,} DMs ({sent['pair']:,} in 1:1, {sent['group']:,} in groups of {args.group_size}), {reads:,} reads")
    print(f"event log: {events:,} events in {leaves} partition(s) {kinds}")
    print(f"  {event_bytes:,} bytes ({event_heap:,} heap): {per_event:.0f} bytes per event with its indexes")
    print(f"  events per DM: {per_dm:.2f} (1:1 alone: 2 message.new per DM, plus read receipts)")
    print(
        f"messages: {messages:,} rows, {message_bytes:,} bytes: {per_message:.0f} bytes per message ({args.body} chars)"
    )
    million = 1_000_000 * (per_dm * per_event + per_message)
    print(
        f"disk per million DMs: {1_000_000 * per_dm * per_event / 2**20:,.0f} MiB of events + "
        f"{1_000_000 * per_message / 2**20:,.0f} MiB of messages = {million / 2**20:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
