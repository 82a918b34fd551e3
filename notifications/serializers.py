from rest_framework import serializers

from accounts.serializers import UserBriefSerializer
from notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    """notification: `{id, verb, actor, post, comment, created_at, read}`; also the `data`
    of a `notification.new` event."""

    actor = UserBriefSerializer()
    post = serializers.IntegerField(source="post_id", allow_null=True)
    comment = serializers.IntegerField(source="comment_id", allow_null=True)

    class Meta:
        model = Notification
        fields = ["id", "verb", "actor", "post", "comment", "created_at", "read"]


def notification_payload(notification: Notification) -> dict:
    return dict(NotificationSerializer(notification).data)
