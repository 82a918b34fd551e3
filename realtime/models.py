from django.conf import settings
from django.db import models

from core.crypto import EncryptedTextField


class EventSequence(models.Model):
    """The per-recipient event counter. Its row is locked (UPDATE) by every append, so a
    recipient's events commit in the order of their ids."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last_id = models.BigIntegerField(default=0)


class Event(models.Model):
    """A durable event for one recipient: `seq` is the wire `id`, strictly increasing per user.

    The payload is stored encrypted: message events carry DM bodies.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=32)
    payload = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "seq"], name="event_user_seq")]


class Connection(models.Model):
    """An open websocket, for presence and to find online followers. A node that dies
    leaves its rows behind; they stop counting once `seen_at` is older than the TTL."""

    channel_name = models.CharField(max_length=200, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_digest = models.CharField(max_length=64, blank=True)
    session_key = models.CharField(max_length=64, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "seen_at"], name="connection_user_seen")]
