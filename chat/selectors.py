"""Chat reads. Each list costs a constant number of queries whatever its length."""

from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from rest_framework.exceptions import NotFound

from accounts.models import User
from accounts.selectors import blocked_among, exclude_blocked
from chat.models import Conversation, Message, Participant
from chat.serializers import message_payload
from core.ids import is_id


def conversation_list_for_user(*, user: User) -> QuerySet[Conversation]:
    """The user's conversations, newest activity first, each with its participants (users
    prefetched, in joining order), `last_message` (sender joined) and `unread_count`: the
    other people's messages after the user's read position. Two queries for any length."""
    unread = (
        Message.objects.filter(conversation=OuterRef("pk"), id__gt=OuterRef("my_read"))
        .exclude(sender_id=user.pk)
        .order_by()
        .values("conversation")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Conversation.objects.filter(participants__user=user)
        .annotate(my_read=F("participants__last_read_message_id"))
        .annotate(unread_count=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)))
        .select_related("last_message__sender")
        .prefetch_related(Prefetch("participants", queryset=Participant.objects.select_related("user").order_by("id")))
        .order_by("-last_activity_at", "-id")
    )


def conversation_get_for_user(*, user: User, conversation_id: int) -> Conversation:
    """One of the user's conversations in the list's shape; 404 when not theirs."""
    if not is_id(conversation_id):
        raise NotFound("No such conversation.")
    conversation = conversation_list_for_user(user=user).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def message_page(*, user: User, conversation_id: int) -> QuerySet[Message]:
    """The messages of one of the user's conversations, newest first (cursor by id);
    404 when the user is not in it."""
    if (
        not is_id(conversation_id)
        or not Participant.objects.filter(conversation_id=conversation_id, user=user).exists()
    ):
        raise NotFound("No such conversation.")
    return Message.objects.filter(conversation_id=conversation_id).select_related("sender").order_by("-id")


def conversation_peer_ids(*, user_id: int) -> list[int]:
    """Everyone who shares at least one conversation with the user (not the user), without
    anyone either side blocked: a block hides presence as it hides typing. The gateway
    tells them when the user comes online or goes offline."""
    mine = Participant.objects.filter(user_id=user_id).values("conversation_id")
    peers = Participant.objects.filter(conversation_id__in=mine).exclude(user_id=user_id)
    return list(exclude_blocked(peers, user_id=user_id, field="user_id").values_list("user_id", flat=True).distinct())


def conversation_other_participant_ids(*, user_id: int, conversation_id: int) -> list[int] | None:
    """The other participants of a conversation the user is in, without anyone either side
    blocked; None when the user is not a participant."""
    ids = list(Participant.objects.filter(conversation_id=conversation_id).values_list("user_id", flat=True))
    if user_id not in ids:
        return None
    others = [uid for uid in ids if uid != user_id]
    excluded = blocked_among(user_id=user_id, other_ids=others)
    return [uid for uid in others if uid not in excluded]


def message_event_data(message_ids: list[int]) -> dict[int, dict]:
    """The data of the `message.new` events of these messages, by id: the event log stores
    them by reference and asks here on replay (one query). A message gone for good reads as
    `{"id", "deleted": true}`."""
    found = {m.pk: message_payload(m) for m in Message.objects.filter(pk__in=message_ids).select_related("sender")}
    return {mid: found.get(mid, {"id": mid, "deleted": True}) for mid in message_ids}
