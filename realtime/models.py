from django.conf import settings
from django.db import models


class EventSequence(models.Model):
    """The per-recipient event counter. Its row is locked (UPDATE) by every append, so a
    recipient's events commit in the order of their ids."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last_id = models.BigIntegerField(default=0)


class Event(models.Model):
    """A durable event for one recipient: `seq` is the wire `id`, strictly increasing per user.

    `payload` is the event's `data` as JSON, or null for a kind whose data is built when it is
    read, from the object `ref` names (a message: see realtime.registry). No payload holds
    secret text: a DM's body lives only in its (encrypted) message row, so an edit or an
    unsend reaches every replay and no backup of this table holds a body.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=32)
    ref = models.BigIntegerField(null=True, blank=True)
    payload = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "seq"], name="event_user_seq")]
