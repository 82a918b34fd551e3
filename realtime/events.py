"""The event log: durable events numbered per recipient, published after commit.

`append` runs inside the caller's transaction. For each recipient it bumps that user's
`EventSequence` row, which holds the row lock until commit: a second writer for the same
recipient waits, so ids become visible in order (never 10 before 9). Recipients are locked in
id order, so two writers never deadlock on each other's counters. The publish is registered
with `transaction.on_commit`, so no socket hears of a rolled-back row.

An event stores its `data` as JSON, or, for a kind whose data is built when read (a message),
the id of its object in `ref`; `replay` asks the resolver the owning app registered
(realtime.registry). A writer that numbers events itself in SQL (chat's send function) hands
its assignment to `publish` the same way.

On the wire, a live event travels through the channel layer as the finished frame text
(`event.push` with `id` and `text`): encoded once per event, whatever the number of
recipients and nodes.
"""

import json
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.metrics import EVENTS_APPENDED
from realtime import partitions, pg, registry
from realtime.batch import lookups
from realtime.db import database_call
from realtime.models import Event, EventSequence
from realtime.publish import publish, user_group

DURABLE_EVENTS = (
    "message.new",
    "message.read",
    "message.update",
    "message.delete",
    "message.reaction",
    "conversation.update",
    "notification.new",
)


def dumps(data: Any) -> str:
    """JSON as the gateway writes it: compact, UTF-8 kept as is."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def frame(seq: int, kind: str, data: Any) -> dict:
    """The wire frame of a durable event."""
    return {"type": "event", "id": seq, "event": kind, "data": data}


def frame_text(seq: int, kind: str, data_json: str) -> str:
    """`frame(...)` as text, from data already encoded (byte for byte what `dumps` gives)."""
    return f'{{"type":"event","id":{seq},"event":{dumps(kind)},"data":{data_json}}}'


def push_message(seq: int, text: str, committed_at: float) -> dict:
    """The channel-layer message that carries one durable event to a recipient's sockets
    (`t`: when it committed, for the delivery latency)."""
    return {"type": "event.push", "id": seq, "text": text, "t": committed_at}


def _next_seq(user_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {EventSequence._meta.db_table} SET last_id = last_id + 1 WHERE user_id = %s RETURNING last_id",  # nosec B608 # names from _meta; values bound
            [user_id],
        )
        row = cursor.fetchone()
    if row is None:
        EventSequence.objects.bulk_create([EventSequence(user_id=user_id)], ignore_conflicts=True)
        return _next_seq(user_id)
    return row[0]


def append(*, user_ids: Iterable[int], kind: str, data: Any, ref: int | None = None) -> dict[int, int]:
    """Appends one event for each recipient and publishes it after commit.

    Must run inside a transaction (services are `@transaction.atomic`). `data` is the
    event's data; with `ref`, only the reference is stored and `data` is what goes out live
    (the resolver of `kind` rebuilds it on replay). Returns the assigned id per recipient.
    """
    if kind not in DURABLE_EVENTS:
        raise ValueError(f"not a durable event: {kind}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events.append must run inside the writing transaction")
    data_json = dumps(data)
    stored = None if ref is not None else data_json
    assigned: dict[int, int] = {}
    rows = []
    for user_id in sorted(set(user_ids)):
        seq = _next_seq(user_id)
        assigned[user_id] = seq
        rows.append(Event(user_id=user_id, seq=seq, kind=kind, ref=ref, payload=stored))
    Event.objects.bulk_create(rows)
    announce(kind, assigned, data_json)
    return assigned


def announce(kind: str, assigned: dict[int, int], data_json: str, *, committed: bool = False) -> None:
    """Publishes an appended event to each recipient's sockets (`assigned`: recipient ->
    id): after the current transaction commits, or at once when the caller knows its
    statement `committed` already (SQL that appends events itself)."""
    EVENTS_APPENDED.labels(kind=kind).inc(len(assigned))

    def send() -> None:
        now = time.time()
        publish(
            [
                (user_group(uid), push_message(seq, frame_text(seq, kind, data_json), now))
                for uid, seq in assigned.items()
            ]
        )

    if committed:
        send()
    else:
        transaction.on_commit(send, robust=True)


def last_event_id(*, user_id: int) -> int:
    return EventSequence.objects.filter(user_id=user_id).values_list("last_id", flat=True).first() or 0


def latest_ids(*, user_ids: Iterable[int]) -> dict[int, int]:
    """The newest event id of each of these users that has one (one query)."""
    return dict(EventSequence.objects.filter(user_id__in=list(user_ids)).values_list("user_id", "last_id"))


LATEST_IDS_SQL = f"SELECT user_id, last_id FROM {EventSequence._meta.db_table} WHERE user_id = ANY(%s)"  # nosec B608 # names from _meta; values bound


async def alatest_ids(user_ids: list[int]) -> dict[int, int]:
    """`latest_ids` from the event loop: on PostgreSQL without a thread hop."""
    if pg.available():
        return dict(await pg.fetch(LATEST_IDS_SQL, [list(user_ids)]))
    return await database_call(latest_ids)(user_ids=user_ids)


# Sockets opening together share one query for their `hello`'s last_event_id.
LAST_IDS = lookups(lambda user_ids: alatest_ids(user_ids))


def replay(*, user_id: int, after: int, limit: int = 500) -> list[dict]:
    """Frames of this user's events with id > after, oldest first, at most `limit`."""
    rows = list(
        Event.objects.filter(user_id=user_id, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "kind", "ref", "payload")[:limit]
    )
    resolved: dict[str, dict[int, Any]] = {}
    by_kind: dict[str, list[int]] = {}
    for _seq, kind, ref, payload in rows:
        if payload is None and ref is not None:
            by_kind.setdefault(kind, []).append(ref)
    for kind, refs in by_kind.items():
        resolved[kind] = registry.resolve_events(kind, refs)
    frames = []
    for seq, kind, ref, payload in rows:
        if payload is not None:
            frames.append(frame(seq, kind, json.loads(payload)))
        else:
            # A resolver answers for every ref it is given (a message gone for good included).
            frames.append(frame(seq, kind, resolved.get(kind, {}).get(ref) if ref is not None else None))
    return frames


def oldest_kept_id(*, user_id: int) -> int | None:
    return Event.objects.filter(user_id=user_id).order_by("seq").values_list("seq", flat=True).first()


def can_resume(*, user_id: int, after: int) -> bool:
    """False when events after `after` were pruned already (the client must resync)."""
    if after < 0:
        return False
    last = last_event_id(user_id=user_id)
    if after > last:
        return False
    if after == last:
        return True
    oldest = oldest_kept_id(user_id=user_id)
    return oldest is not None and oldest <= after + 1


def prune(*, older_than: timedelta | None = None, batch: int = 5000, lock_timeout_ms: int = 5000) -> int:
    """Deletes events past the retention period. Returns how many went.

    A partitioned log (PostgreSQL, realtime/partitions.py) drops each partition whose every
    event is past retention, and deletes what the default partition holds past it; otherwise
    rows are deleted in batches."""
    if older_than is None:
        older_than = timedelta(days=settings.EVENT_RETENTION_DAYS)
    cutoff = timezone.now() - older_than
    if partitions.is_partitioned():
        deleted = 0
        for partition in partitions.expired(cutoff=cutoff):
            rows, _bytes = partitions.size(partition.name)
            partitions.drop(partition, lock_timeout_ms=lock_timeout_ms)
            deleted += rows
        return deleted + partitions.prune_default(cutoff=cutoff)
    deleted = 0
    while True:
        ids = list(Event.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += Event.objects.filter(id__in=ids).delete()[0]
