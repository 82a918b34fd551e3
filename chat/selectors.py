"""Chat reads. Each list costs a constant number of queries whatever its length."""

from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from rest_framework.exceptions import NotFound

from accounts.models import User
from chat.models import Conversation, Message, Participant

MAX_ID = 2**63 - 1


def _valid_id(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 1 <= value <= MAX_ID


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
        .prefetch_related(
            Prefetch("participants", queryset=Participant.objects.select_related("user").order_by("id"))
        )
        .order_by("-last_activity_at", "-id")
    )


def conversation_get_for_user(*, user: User, conversation_id: int) -> Conversation:
    """One of the user's conversations in the list's shape; 404 when not theirs."""
    if not _valid_id(conversation_id):
        raise NotFound("No such conversation.")
    conversation = conversation_list_for_user(user=user).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def message_page(*, user: User, conversation_id: int) -> QuerySet[Message]:
    """The messages of one of the user's conversations, newest first (cursor by id);
    404 when the user is not in it."""
    if not _valid_id(conversation_id) or not Participant.objects.filter(
        conversation_id=conversation_id, user=user
    ).exists():
        raise NotFound("No such conversation.")
    return Message.objects.filter(conversation_id=conversation_id).select_related("sender").order_by("-id")
