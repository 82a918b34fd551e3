from django.conf import settings
from django.db import models
from django.db.models import F


class Notification(models.Model):
    class Verb(models.TextChoices):
        LIKE = "like"
        COMMENT = "comment"
        FOLLOW = "follow"
        MENTION = "mention"
        FOLLOW_REQUEST = "follow_request"
        FOLLOW_ACCEPT = "follow_accept"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    verb = models.CharField(max_length=16, choices=Verb.choices)
    post = models.ForeignKey("feed.Post", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    comment = models.ForeignKey("feed.Comment", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    read = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    verb__in=["like", "comment", "follow", "mention", "follow_request", "follow_accept"]
                ),
                name="notification_verb",
            ),
        ]
        indexes = [
            models.Index(F("recipient"), F("id").desc(), name="notification_recipient_recent"),
            models.Index(F("recipient"), F("read"), name="notification_recipient_unread"),
            # "Unlike then like again within an hour does not notify twice."
            models.Index(fields=["recipient", "actor", "verb", "post"], name="notification_dedupe"),
        ]
