import re
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import USERNAME_CHARS, USERNAME_MAX, USERNAME_MIN, User
from accounts.selectors import block_exists
from notifications.models import Notification
from notifications.serializers import notification_payload
from realtime import events

# `@name` where no username character comes before the `@` (so `a@b.c` mentions nobody).
MENTION_RE = re.compile(rf"(?<!{USERNAME_CHARS})@({USERNAME_CHARS}{{{USERNAME_MIN},{USERNAME_MAX}}})")
# A like or follow withdrawn and given again within this window does not notify twice.
RENOTIFY_AFTER = timedelta(hours=1)


def mentioned_usernames(text: str) -> list[str]:
    """Usernames @mentioned in a text, each once, in order of appearance."""
    seen: dict[str, None] = {}
    for name in MENTION_RE.findall(text or ""):
        seen.setdefault(name.rstrip(".").lower(), None)
    return list(seen)


def mentioned_users(text: str) -> list[User]:
    names = mentioned_usernames(text)
    if not names:
        return []
    users = {
        u.username.lower(): u
        for u in User.objects.filter(username__iregex=r"^(" + "|".join(re.escape(n) for n in names) + r")$")
    }
    return [users[n] for n in names if n in users]


@transaction.atomic
def notification_create(*, recipient: User, actor: User, verb: str, post=None, comment=None) -> Notification | None:
    """Creates a notification and its durable `notification.new` event, in the caller's
    transaction. Nobody is notified of their own act, nor by someone either of them blocked.
    A repeated like or follow within RENOTIFY_AFTER notifies once (so an unlike/like or
    unfollow/follow loop cannot flood someone's notifications)."""
    if recipient.pk == actor.pk or block_exists(recipient.pk, actor.pk):
        return None
    if (
        verb in (Notification.Verb.LIKE, Notification.Verb.FOLLOW, Notification.Verb.FOLLOW_REQUEST)
        and Notification.objects.filter(
            recipient=recipient, actor=actor, verb=verb, post=post, created_at__gte=timezone.now() - RENOTIFY_AFTER
        ).exists()
    ):
        return None
    notification = Notification.objects.create(recipient=recipient, actor=actor, verb=verb, post=post, comment=comment)
    events.append(user_ids=[recipient.pk], kind="notification.new", data=notification_payload(notification))
    return notification


@transaction.atomic
def notifications_create(
    *, actor: User, notices: list[tuple[User, str]], post=None, comment=None
) -> list[Notification]:
    """Creates several notifications of one act, in recipient id order: every writer locks
    event counters in the same order, so two acts that notify the same people cannot
    deadlock."""
    created = []
    for recipient, verb in sorted(notices, key=lambda notice: notice[0].pk):
        notification = notification_create(recipient=recipient, actor=actor, verb=verb, post=post, comment=comment)
        if notification is not None:
            created.append(notification)
    return created


@transaction.atomic
def notifications_mark_read(*, user: User, up_to: int) -> int:
    """Marks the user's notifications with id <= up_to as read. Returns how many changed."""
    return Notification.objects.filter(recipient=user, id__lte=up_to, read=False).update(read=True)


def notify_follow(*, follower: User, followee: User, accepted: bool = False, **_signal) -> None:
    """`accounts.signals.follow_created`: the followee hears of a new follower; when the
    follow is an accepted request, the requester hears `follow_accept` instead (the
    followee is who accepted)."""
    if accepted:
        notification_create(recipient=follower, actor=followee, verb=Notification.Verb.FOLLOW_ACCEPT)
    else:
        notification_create(recipient=followee, actor=follower, verb=Notification.Verb.FOLLOW)


def notify_follow_request(*, requester: User, target: User, **_signal) -> None:
    """`accounts.signals.follow_requested`: the private account's owner hears of a request."""
    notification_create(recipient=target, actor=requester, verb=Notification.Verb.FOLLOW_REQUEST)
