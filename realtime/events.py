"""The event log: durable events numbered per recipient, published after commit.

`append` runs inside the caller's transaction. For each recipient it bumps that user's
`EventSequence` row with one UPDATE, which holds the row lock until commit: a second writer
for the same recipient waits, so ids become visible in order (never 10 before 9). The
publish is registered with `transaction.on_commit`, so no socket hears of a rolled-back row.
Recipients are locked in id order, so two writers never deadlock on each other's counters.
"""

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.metrics import EVENTS_APPENDED
from realtime.models import Event, EventSequence
from realtime.publish import publish, user_group

DURABLE_EVENTS = ("message.new", "message.read", "notification.new")


def frame(seq: int, kind: str, data: Any) -> dict:
    """The wire frame of a durable event."""
    return {"type": "event", "id": seq, "event": kind, "data": data}


def _next_seq(user_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {EventSequence._meta.db_table} SET last_id = last_id + 1 WHERE user_id = %s RETURNING last_id",
            [user_id],
        )
        row = cursor.fetchone()
    if row is None:
        EventSequence.objects.bulk_create([EventSequence(user_id=user_id)], ignore_conflicts=True)
        return _next_seq(user_id)
    return row[0]


def append(*, user_ids: Iterable[int], kind: str, data: Any) -> dict[int, int]:
    """Appends one event for each recipient and publishes it after commit.

    Must run inside a transaction (services are `@transaction.atomic`). Returns the
    assigned id per recipient.
    """
    if kind not in DURABLE_EVENTS:
        raise ValueError(f"not a durable event: {kind}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events.append must run inside the writing transaction")
    payload = json.dumps(data, separators=(",", ":"))
    assigned: dict[int, int] = {}
    rows = []
    for user_id in sorted(set(user_ids)):
        seq = _next_seq(user_id)
        assigned[user_id] = seq
        rows.append(Event(user_id=user_id, seq=seq, kind=kind, payload=payload))
    Event.objects.bulk_create(rows)
    EVENTS_APPENDED.labels(kind=kind).inc(len(rows))
    sends = [
        (user_group(uid), {"type": "event.push", "frame": frame(seq, kind, data)}) for uid, seq in assigned.items()
    ]
    transaction.on_commit(lambda: publish(sends), robust=True)
    return assigned


def last_event_id(*, user_id: int) -> int:
    return EventSequence.objects.filter(user_id=user_id).values_list("last_id", flat=True).first() or 0


def replay(*, user_id: int, after: int, limit: int = 500) -> list[dict]:
    """Frames of this user's events with id > after, oldest first, at most `limit`."""
    events = Event.objects.filter(user_id=user_id, seq__gt=after).order_by("seq")[:limit]
    return [frame(e.seq, e.kind, json.loads(e.payload)) for e in events]


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


def prune(*, older_than: timedelta | None = None, batch: int = 5000) -> int:
    """Deletes events past the retention period, in batches. Returns how many went."""
    if older_than is None:
        older_than = timedelta(days=settings.EVENT_RETENTION_DAYS)
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        ids = list(Event.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += Event.objects.filter(id__in=ids).delete()[0]
