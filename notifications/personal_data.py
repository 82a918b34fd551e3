"""What notifications holds of one person, for their export (accounts.signals.user_export,
connected in NotificationsConfig.ready()). Their notifications go with the account by
cascade."""

from notifications.models import Notification


def export_notifications(*, user, archive, **kwargs) -> None:
    rows = Notification.objects.filter(recipient=user).select_related("actor").order_by("created_at")
    archive.add_json(
        "notifications",
        [
            {
                "id": n.pk,
                "verb": n.verb,
                "actor": n.actor.username,
                "post": n.post_id,
                "comment": n.comment_id,
                "created_at": n.created_at,
                "read": n.read,
            }
            for n in rows.iterator()
        ],
    )
