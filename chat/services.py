"""Chat writes: opening conversations, sending messages, moving read positions.

Each service runs in one transaction and appends its durable events (`message.new`,
`message.read`) to the event log in that transaction; they reach sockets after commit.
The REST views and the websocket consumer both call these, so every failure is a DRF
exception (400 ValidationError, 403 PermissionDenied, 404 NotFound, 409 Conflict).

Lock order, to keep concurrent writers free of deadlocks: conversation row, then a
participant row, then (inside `events.append`) the recipients' event counters by user id.
"""

import unicodedata

from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from accounts.models import User, is_username
from accounts.selectors import block_exists, blocked_among
from accounts.serializers import user_brief
from chat import sending
from chat.models import BODY_MAX, CLIENT_ID_MAX, Conversation, Message, Participant
from chat.serializers import message_payload, read_payload
from core.errors import Conflict
from core.ids import is_id
from realtime import events

GROUP_MAX_OTHERS = 50


def _check_text(value, *, name: str) -> str:
    """Text that PostgreSQL and UTF-8 can store: no NUL, no lone surrogates."""
    if not isinstance(value, str):
        raise ValidationError({name: ["Must be a string."]})
    if "\x00" in value:
        raise ValidationError({name: ["Null characters are not allowed."]})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError({name: ["Invalid characters (lone surrogates)."]})
    return value


def _direct_key(a_id: int, b_id: int) -> str:
    low, high = sorted((a_id, b_id))
    return f"{low}:{high}"


def _users_by_username(usernames: list[str]) -> list[User]:
    """Active users for these usernames (exact match first, then case-insensitive), in
    order, each once. Unknown names are a validation error naming them."""
    wanted = {name.lower() for name in usernames}
    candidates = list(
        User.objects.annotate(lname=Lower("username")).filter(lname__in=wanted, is_active=True).order_by("id")
    )
    exact = {u.username: u for u in candidates}
    folded: dict[str, User] = {}
    for u in candidates:
        folded.setdefault(u.username.lower(), u)
    found: dict[int, User] = {}
    missing = []
    for name in usernames:
        user = exact.get(name) or folded.get(name.lower())
        if user is None:
            missing.append(name)
        else:
            found.setdefault(user.pk, user)
    if missing:
        raise ValidationError({"usernames": [f"No such user: {name}" for name in missing[:10]]})
    return list(found.values())


def conversation_open(*, creator: User, usernames: list[str]) -> tuple[Conversation, bool]:
    """Opens a conversation between `creator` and the named people. Returns it and whether
    it was created.

    One other person: the 1:1 conversation of that pair, created only the first time (two
    concurrent opens get the same one). Two or more: always a new group conversation.
    Refused (403) when the creator and any of them block each other.
    """
    if not isinstance(usernames, list) or not usernames:
        raise ValidationError({"usernames": ["Give a non-empty list of usernames."]})
    if len(usernames) > GROUP_MAX_OTHERS + 1:
        raise ValidationError({"usernames": [f"At most {GROUP_MAX_OTHERS} people per conversation."]})
    for name in usernames:
        if not is_username(name):
            raise ValidationError({"usernames": [f"No such user: {str(name)[:30]}"]})

    others = [u for u in _users_by_username(usernames) if u.pk != creator.pk]
    if not others:
        raise ValidationError({"usernames": ["Name at least one person other than yourself."]})
    if len(others) > GROUP_MAX_OTHERS:
        raise ValidationError({"usernames": [f"At most {GROUP_MAX_OTHERS} people per conversation."]})
    other_ids = [u.pk for u in others]
    if _blocked_any(creator.pk, other_ids):
        raise PermissionDenied("You cannot start a conversation with this person.")

    if len(others) == 1:
        return _direct_open(creator=creator, other=others[0])
    with transaction.atomic():
        conversation = Conversation.objects.create()
        Participant.objects.bulk_create(
            [Participant(conversation=conversation, user_id=uid) for uid in [creator.pk, *other_ids]]
        )
    return conversation, True


def _blocked_any(user_id: int, other_ids: list[int]) -> bool:
    return bool(blocked_among(user_id=user_id, other_ids=other_ids))


def _direct_open(*, creator: User, other: User) -> tuple[Conversation, bool]:
    key = _direct_key(creator.pk, other.pk)
    existing = Conversation.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(direct_key=key)
            Participant.objects.bulk_create(
                [Participant(conversation=conversation, user_id=uid) for uid in (creator.pk, other.pk)]
            )
    except IntegrityError:
        # A concurrent open of the same pair won the race on the unique direct_key.
        existing = Conversation.objects.filter(direct_key=key).first()
        if existing is None:
            raise
        return existing, False
    return conversation, True


def message_validate(*, body, client_id) -> str:
    """Refuses (ValidationError) a body or client_id no message may have: the one check of
    both, for REST and socket sends. Returns the body."""
    _check_text(body, name="body")
    if not body.strip():
        raise ValidationError({"body": ["A message cannot be empty."]})
    if len(body) > BODY_MAX:
        raise ValidationError({"body": [f"A message has at most {BODY_MAX} characters."]})
    _check_text(client_id, name="client_id")
    if not 1 <= len(client_id) <= CLIENT_ID_MAX:
        raise ValidationError({"client_id": [f"client_id has 1 to {CLIENT_ID_MAX} characters."]})
    if any(unicodedata.category(ch) == "Cc" for ch in client_id):
        raise ValidationError({"client_id": ["client_id cannot contain control characters."]})
    return body


def _locked_conversation(*, user: User, conversation_id) -> Conversation:
    """The conversation, row-locked, if `user` takes part in it; 404 otherwise (whether it
    exists is nobody else's business)."""
    if not is_id(conversation_id):
        raise NotFound("No such conversation.")
    conversation = (
        Conversation.objects.select_for_update(of=("self",)).filter(pk=conversation_id, participants__user=user).first()
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def _existing_send(*, sender: User, conversation_id: int, client_id: str) -> Message | None:
    message = Message.objects.select_related("sender").filter(sender=sender, client_id=client_id).first()
    if message is not None and message.conversation_id != conversation_id:
        raise Conflict("This client_id was already used for a message in another conversation.")
    return message


@transaction.atomic
def message_send(*, sender: User, conversation_id: int, body: str, client_id: str) -> tuple[Message, bool]:
    """Sends a message. Returns it and whether it was created.

    Idempotent on (sender, client_id): a retry returns the original message, created=False,
    and appends no event; the same client_id in another conversation is a 409. On create,
    the conversation's last message and activity time move, the sender's read position
    moves to the new message, and every participant (the sender too, for their other tabs)
    gets `message.new` after commit. The conversation row is locked for the transaction,
    so a conversation's messages commit in id order.

    On PostgreSQL all of it is one statement (chat/sending.py), as the gateway sends it too;
    on SQLite the ORM does the same steps.
    """
    message_validate(body=body, client_id=client_id)
    if not is_id(conversation_id):
        raise NotFound("No such conversation.")
    if connection.vendor != "postgresql":
        return _message_send_orm(sender=sender, conversation_id=conversation_id, body=body, client_id=client_id)
    item = sending.SendItem(sender_id=sender.pk, conversation_id=conversation_id, body=body, client_id=client_id)
    with connection.cursor() as cursor:
        cursor.execute(sending.SEND_SQL, sending.send_params([item]))
        (row,) = cursor.fetchall()
    sent = sending.outcome(row, item, sender=user_brief(sender))
    if sent.created:
        events.announce("message.new", sent.assigned, events.dumps(sent.data))
    message = Message(
        id=sent.data["id"],
        conversation_id=conversation_id,
        sender=sender,
        body=body if sent.created else sent.data["body"],
        client_id=client_id,
        created_at=sent.created_at,
    )
    message._state.adding = False
    return message, sent.created


def _message_send_orm(*, sender: User, conversation_id: int, body: str, client_id: str) -> tuple[Message, bool]:
    conversation = _locked_conversation(user=sender, conversation_id=conversation_id)
    existing = _existing_send(sender=sender, conversation_id=conversation.pk, client_id=client_id)
    if existing is not None:
        return existing, False

    participant_ids = list(
        Participant.objects.filter(conversation=conversation).order_by("user_id").values_list("user_id", flat=True)
    )
    if conversation.direct_key is not None:
        other_ids = [uid for uid in participant_ids if uid != sender.pk]
        if other_ids and block_exists(sender.pk, other_ids[0]):
            raise PermissionDenied("You cannot message this person.")

    try:
        with transaction.atomic():
            message = Message.objects.create(conversation=conversation, sender=sender, body=body, client_id=client_id)
    except IntegrityError:
        # A concurrent retry in another conversation's transaction committed first.
        existing = _existing_send(sender=sender, conversation_id=conversation.pk, client_id=client_id)
        if existing is None:
            raise
        return existing, False

    conversation.last_message = message
    conversation.last_activity_at = message.created_at
    conversation.save(update_fields=["last_message", "last_activity_at"])
    Participant.objects.filter(conversation=conversation, user=sender, last_read_message_id__lt=message.pk).update(
        last_read_message_id=message.pk
    )
    events.append(user_ids=participant_ids, kind="message.new", data=message_payload(message), ref=message.pk)
    return message, True


@transaction.atomic
def conversation_mark_read(*, user: User, conversation_id: int, message_id: int) -> Participant:
    """Moves the user's read position in a conversation forward to `message_id` (never
    back). The message must belong to the conversation. When the position moved, every
    participant (the reader's other tabs too) gets `message.read`; a repeat is a no-op."""
    if not is_id(conversation_id):
        raise NotFound("No such conversation.")
    if not is_id(message_id):
        raise ValidationError({"message_id": ["Must be a positive integer id."]})
    participant = Participant.objects.select_for_update().filter(conversation_id=conversation_id, user=user).first()
    if participant is None:
        raise NotFound("No such conversation.")
    if not Message.objects.filter(pk=message_id, conversation_id=conversation_id).exists():
        raise ValidationError({"message_id": ["No such message in this conversation."]})
    if message_id <= participant.last_read_message_id:
        return participant
    participant.last_read_message_id = message_id
    participant.save(update_fields=["last_read_message_id"])
    recipients = Participant.objects.filter(conversation_id=conversation_id).values_list("user_id", flat=True)
    events.append(
        user_ids=list(recipients),
        kind="message.read",
        data=read_payload(conversation_id=conversation_id, user=user, message_id=message_id),
    )
    return participant
