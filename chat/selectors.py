"""Chat reads. Each list costs a constant number of queries whatever its length."""

from django.db.models import BigIntegerField, Count, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from rest_framework.exceptions import NotFound

from accounts.models import User
from accounts.selectors import blocked_among, exclude_blocked
from chat.models import Conversation, Message, Participant, Reaction
from chat.serializers import message_payload
from core.ids import is_id

BOXES = ("accepted", "requests")


def conversation_list_for_user(*, user: User, box: str | None = None) -> QuerySet[Conversation]:
    """The user's conversations, newest activity first, each with its participants (users
    prefetched, in joining order), `last_message` (sender joined) and `unread_count`: the
    other people's messages after the user's read position. Three queries for any length.

    `box`: "accepted" (the inbox) or "requests" (message requests that have a message);
    None: every one of them (one conversation by id). Conversations the user deleted for
    themselves stay out until a newer message comes."""
    unread = (
        Message.objects.filter(conversation=OuterRef("pk"), id__gt=OuterRef("my_read"))
        .exclude(sender_id=user.pk)
        .order_by()
        .values("conversation")
        .annotate(n=Count("id"))
        .values("n")
    )
    conversations = (
        Conversation.objects.filter(participants__user=user)
        .annotate(
            my_read=F("participants__last_read_message_id"),
            my_accepted=F("participants__accepted"),
            my_muted=F("participants__muted"),
            my_hidden=F("participants__hidden_up_to"),
            my_id=Value(user.pk, output_field=BigIntegerField()),
        )
        .annotate(unread_count=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)))
        .select_related("last_message__sender")
        .prefetch_related(
            Prefetch("participants", queryset=Participant.objects.select_related("user").order_by("id")),
            Prefetch("last_message__reactions", queryset=Reaction.objects.order_by("id")),
        )
        .order_by("-last_activity_at", "-id")
    )
    if box is None:
        return conversations
    conversations = conversations.filter(Q(my_hidden__isnull=True) | Q(last_message_id__gt=F("my_hidden")))
    if box == "requests":
        return conversations.filter(my_accepted=False, last_message__isnull=False)
    return conversations.filter(my_accepted=True)


def conversation_get_for_user(*, user: User, conversation_id: int) -> Conversation:
    """One of the user's conversations in the list's shape; 404 when not theirs."""
    if not is_id(conversation_id):
        raise NotFound("No such conversation.")
    conversation = conversation_list_for_user(user=user).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def _reactions() -> Prefetch:
    return Prefetch("reactions", queryset=Reaction.objects.order_by("id"))


def message_page(*, user: User, conversation_id: int) -> QuerySet[Message]:
    """The messages of one of the user's conversations, newest first (cursor by id), with
    their reactions; 404 when the user is not in it. Without what came before the user
    deleted the conversation for themselves, or from anyone with a block either way."""
    me = (
        Participant.objects.filter(conversation_id=conversation_id, user=user).first()
        if is_id(conversation_id)
        else None
    )
    if me is None:
        raise NotFound("No such conversation.")
    messages = Message.objects.filter(conversation_id=conversation_id)
    if me.hidden_up_to is not None:
        messages = messages.filter(id__gt=me.hidden_up_to)
    messages = exclude_blocked(messages, user_id=user.pk, field="sender_id")
    return messages.select_related("sender").prefetch_related(_reactions()).order_by("-id")


def conversation_peer_ids(*, user_id: int) -> list[int]:
    """Everyone who shares with the user a conversation that both accepted and that has at
    least one message, without anyone either side blocked: a block hides presence as it
    hides typing, and a message request shows none. The gateway tells them when the user
    comes online or goes offline."""
    mine = Participant.objects.filter(user_id=user_id, accepted=True, conversation__last_message__isnull=False).values(
        "conversation_id"
    )
    peers = Participant.objects.filter(conversation_id__in=mine, accepted=True).exclude(user_id=user_id)
    return list(exclude_blocked(peers, user_id=user_id, field="user_id").values_list("user_id", flat=True).distinct())


# Who hears a user's typing in a conversation, in one statement: every participant with
# whether they accepted it and whether a block stands between them and the typer.
TYPING_AUDIENCE_SQL = (
    "SELECT p.user_id, p.accepted, EXISTS (SELECT 1 FROM accounts_block b"
    " WHERE (b.blocker_id = %s AND b.blocked_id = p.user_id) OR (b.blocked_id = %s AND b.blocker_id = p.user_id))"
    " FROM chat_participant p WHERE p.conversation_id = %s"
)


def typing_params(*, user_id: int, conversation_id: int) -> tuple:
    return (user_id, user_id, conversation_id)


def typing_audience(rows: list[tuple], *, user_id: int) -> list[int] | None:
    """From TYPING_AUDIENCE_SQL's rows: the people who hear the user type (None when the
    user is not a participant). Nobody while the user has not accepted the conversation
    (a request), nobody who has not accepted it, nobody across a block."""
    mine = [accepted for uid, accepted, _blocked in rows if uid == user_id]
    if not mine:
        return None
    if not mine[0]:
        return []
    return [uid for uid, accepted, blocked in rows if uid != user_id and accepted and not blocked]


def conversation_typing_audience(*, user_id: int, conversation_id: int) -> list[int] | None:
    """`typing_audience` through the ORM (the path SQLite takes)."""
    rows = list(Participant.objects.filter(conversation_id=conversation_id).values_list("user_id", "accepted"))
    excluded = blocked_among(user_id=user_id, other_ids=[uid for uid, _ in rows if uid != user_id])
    return typing_audience([(uid, accepted, uid in excluded) for uid, accepted in rows], user_id=user_id)


def message_event_data(message_ids: list[int]) -> dict[int, dict]:
    """The data of the `message.new` and `message.update` events of these messages, by id:
    the event log stores them by reference and asks here on replay (two queries), so a
    replay shows each message as it is now (an unsent one without its text). A message gone for good reads as
    `{"id", "deleted": true}`."""
    found = {
        m.pk: message_payload(m)
        for m in Message.objects.filter(pk__in=message_ids).select_related("sender").prefetch_related(_reactions())
    }
    return {mid: found.get(mid, {"id": mid, "deleted": True}) for mid in message_ids}
