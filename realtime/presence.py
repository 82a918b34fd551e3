"""Open sockets: who is online, for presence and for live pushes to online followers.

One `Connection` row per open socket. A node refreshes its rows' `seen_at` on the gateway's
periodic tick; a node that dies leaves its rows behind, and they stop counting once `seen_at`
is older than PRESENCE_TTL_SECONDS.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from realtime.models import Connection


def live_connections() -> QuerySet[Connection]:
    """Sockets refreshed within PRESENCE_TTL_SECONDS: their users are online."""
    return Connection.objects.filter(seen_at__gte=timezone.now() - timedelta(seconds=settings.PRESENCE_TTL_SECONDS))


# Services (writes)


@transaction.atomic
def connection_open(*, channel_name: str, user_id: int, token_digest: str = "", session_key: str = "") -> bool:
    """Records an open socket. True when it is the user's only live socket (they came online)."""
    now = timezone.now()
    Connection.objects.update_or_create(
        channel_name=channel_name,
        defaults={"user_id": user_id, "token_digest": token_digest, "session_key": session_key, "seen_at": now},
    )
    return not live_connections().filter(user_id=user_id).exclude(channel_name=channel_name).exists()


def connection_touch(*, channel_name: str, user_id: int, token_digest: str = "", session_key: str = "") -> None:
    """Marks a socket as alive now (re-creating its row if a prune or a restart removed it)."""
    updated = Connection.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())
    if not updated:
        Connection.objects.bulk_create(
            [
                Connection(
                    channel_name=channel_name,
                    user_id=user_id,
                    token_digest=token_digest,
                    session_key=session_key,
                    seen_at=timezone.now(),
                )
            ],
            ignore_conflicts=True,
        )


@transaction.atomic
def connection_close(*, channel_name: str, user_id: int) -> bool:
    """Forgets a socket. True when the user has no live socket left (they went offline)."""
    Connection.objects.filter(channel_name=channel_name).delete()
    return not live_connections().filter(user_id=user_id).exists()


def connections_prune_stale() -> int:
    """Deletes rows of sockets nobody refreshed for several TTLs (a node that died)."""
    cutoff = timezone.now() - timedelta(seconds=settings.PRESENCE_TTL_SECONDS * 10)
    return Connection.objects.filter(seen_at__lt=cutoff).delete()[0]
