from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.crypto import EncryptedTextField

BODY_MAX = 4000
CLIENT_ID_MAX = 64


class Conversation(models.Model):
    """A direct conversation between two people, or a group of more.

    `direct_key` ("<smaller id>:<larger id>") makes a 1:1 conversation unique per pair.
    """

    direct_key = models.CharField(max_length=41, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(auto_now_add=True)
    last_message = models.ForeignKey("Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"conversation {self.pk}"


class Participant(models.Model):
    """A person in a conversation, with their read position (a message id, 0 for none)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations")
    last_read_message_id = models.BigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="participant_unique"),
        ]
        indexes = [models.Index(fields=["user", "conversation"], name="participant_user")]


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # Null once the sender deleted their account (accounts.deletion): the message stays in
    # the others' conversation, `deleted`, with its body erased (chat.personal_data).
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="messages_sent"
    )
    body = EncryptedTextField()
    client_id = models.CharField(max_length=CLIENT_ID_MAX)
    created_at = models.DateTimeField(auto_now_add=True)
    # The database default lets chat's send function insert without naming the column.
    deleted = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            # A retried send (same sender and client_id) creates nothing new.
            models.UniqueConstraint(fields=["sender", "client_id"], name="message_idempotent"),
            models.CheckConstraint(condition=~Q(client_id=""), name="message_client_id_set"),
        ]
        indexes = [
            models.Index(F("conversation"), F("id").desc(), name="message_conversation_recent"),
        ]
