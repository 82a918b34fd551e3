"""Notification reads. A list costs a constant number of queries whatever its length."""

from django.db.models import QuerySet

from accounts.models import User
from notifications.models import Notification


def notification_list_for_user(*, user: User) -> QuerySet[Notification]:
    """The user's notifications, newest first (cursor by id), actors joined."""
    return Notification.objects.filter(recipient=user).select_related("actor").order_by("-id")
