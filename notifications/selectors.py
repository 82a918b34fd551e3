"""Notification reads. A list costs a constant number of queries whatever its length."""

from django.db.models import QuerySet

from accounts.models import User
from accounts.selectors import exclude_blocked
from notifications.models import Notification


def notification_list_for_user(*, user: User) -> QuerySet[Notification]:
    """The user's notifications, newest first (cursor by id), actors joined; none from
    anyone the user blocked or was blocked by (those from before the block included)."""
    notifications = exclude_blocked(Notification.objects.filter(recipient=user), user_id=user.pk, field="actor_id")
    return notifications.select_related("actor").order_by("-id")
