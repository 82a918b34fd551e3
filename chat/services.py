"""Chat writes: opening conversations, sending, editing and unsending messages, reactions,
read positions, message requests, mute, and group membership.

Each service runs in one transaction and appends its durable events (`message.new`,
`message.read`, `message.update`, `message.delete`, `message.reaction`,
`conversation.update`) to the event log in that transaction; they reach sockets after
commit. No event stores a message's text: `message.new` and `message.update` are logged by
reference and read back from the message row, so an unsend erases the text everywhere.
The REST views and the websocket consumer both call these, so every failure is a DRF
exception (400 ValidationError, 403 PermissionDenied, 404 NotFound, 409 Conflict).

Lock order, to keep concurrent writers free of deadlocks: conversation row, then a
participant row, then (inside `events.append`) the recipients' event counters by user id.
"""

import logging
import unicodedata
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Prefetch
from django.db.models.functions import Lower
from django.utils import timezone
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from accounts.models import Block, User, is_username
from accounts.selectors import block_exists, blocked_among, follow_exists
from accounts.serializers import user_brief
from chat import sending
from chat.models import (
    BODY_MAX,
    CLIENT_ID_MAX,
    EMOJI_MAX_BYTES,
    TITLE_MAX,
    Conversation,
    Message,
    Participant,
    Reaction,
)
from chat.serializers import (
    ReactionPayload,
    conversation_shared,
    delete_payload,
    message_payload,
    reaction_payload,
    read_payload,
)
from core.errors import Conflict
from core.ids import is_id
from core.images import image_process
from realtime import events

log = logging.getLogger(__name__)

GROUP_MAX_OTHERS = 50
EDIT_WINDOW = timedelta(minutes=15)


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
    Refused (403) when any two of the people in it block each other (the creator or not).
    A 1:1 opened with someone who does not follow the creator is a message request for them.
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
    if len(others) > 1 and _block_within(other_ids):
        raise PermissionDenied("These people cannot be in one conversation.")

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


def _block_within(user_ids: list[int]) -> bool:
    """True when any two of these people block each other (one query)."""
    return Block.objects.filter(blocker_id__in=user_ids, blocked_id__in=user_ids).exists()


def _direct_open(*, creator: User, other: User) -> tuple[Conversation, bool]:
    key = _direct_key(creator.pk, other.pk)
    existing = Conversation.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(direct_key=key)
            # A stranger's 1:1 is a request for the recipient until they accept or reply.
            accepted = follow_exists(follower_id=other.pk, followee_id=creator.pk)
            Participant.objects.bulk_create(
                [
                    Participant(conversation=conversation, user_id=creator.pk),
                    Participant(conversation=conversation, user_id=other.pk, accepted=accepted),
                ]
            )
    except IntegrityError:
        # A concurrent open of the same pair won the race on the unique direct_key.
        existing = Conversation.objects.filter(direct_key=key).first()
        if existing is None:
            raise
        return existing, False
    return conversation, True


def message_validate(*, body, client_id, allow_empty: bool = False) -> str:
    """Refuses (ValidationError) a body or client_id no message may have: the one check of
    both, for REST and socket sends. Returns the body. `allow_empty`: a photo's caption."""
    _check_text(body, name="body")
    if not body.strip() and not allow_empty:
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


def reply_validate(reply_to) -> int | None:
    """A `reply_to` as given (None or a message id); its conversation is checked on send."""
    if reply_to is None:
        return None
    if not is_id(reply_to):
        raise ValidationError({"reply_to": ["Must be a message id or null."]})
    return reply_to


@transaction.atomic
def message_send(
    *, sender: User, conversation_id: int, body: str, client_id: str, reply_to: int | None = None
) -> tuple[Message, bool]:
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
    reply_validate(reply_to)
    if not is_id(conversation_id):
        raise NotFound("No such conversation.")
    if connection.vendor != "postgresql":
        return _message_send_orm(
            sender=sender, conversation_id=conversation_id, body=body, client_id=client_id, reply_to=reply_to
        )
    item = sending.SendItem(
        sender_id=sender.pk, conversation_id=conversation_id, body=body, client_id=client_id, reply_to=reply_to
    )
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
        reply_to_id=sent.data["reply_to"],
        edited_at=sent.edited_at,
        deleted=sent.data["deleted"],
    )
    message._state.adding = False
    return message, sent.created


def _recipients(*, conversation: Conversation, member_ids: list[int], user_id: int) -> list[int]:
    """Who hears of what `user_id` does in a conversation: every member, except, in a
    group, those with a block either way with that person (a 1:1 across a block refuses
    the write instead)."""
    if conversation.direct_key is not None:
        return member_ids
    excluded = blocked_among(user_id=user_id, other_ids=[uid for uid in member_ids if uid != user_id])
    return [uid for uid in member_ids if uid not in excluded]


def _member_ids(conversation_id: int) -> list[int]:
    return list(
        Participant.objects.filter(conversation_id=conversation_id)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )


def _message_send_orm(
    *,
    sender: User,
    conversation_id: int,
    body: str,
    client_id: str,
    reply_to: int | None = None,
    image: Message | None = None,
) -> tuple[Message, bool]:
    """The send through the ORM: every text send on SQLite, and photo sends (the statement
    of chat/sending.py carries text only). The same checks and steps as the statement."""
    conversation = _locked_conversation(user=sender, conversation_id=conversation_id)
    existing = _existing_send(sender=sender, conversation_id=conversation.pk, client_id=client_id)
    if existing is not None:
        return existing, False

    participant_ids = _member_ids(conversation.pk)
    if conversation.direct_key is not None:
        other_ids = [uid for uid in participant_ids if uid != sender.pk]
        if other_ids and block_exists(sender.pk, other_ids[0]):
            raise PermissionDenied("You cannot message this person.")
    if reply_to is not None and not Message.objects.filter(pk=reply_to, conversation_id=conversation.pk).exists():
        raise ValidationError({"reply_to": ["No such message in this conversation."]})

    message = Message(conversation=conversation, sender=sender, body=body, client_id=client_id, reply_to_id=reply_to)
    if image is not None:
        message.kind = Message.KIND_IMAGE
        message.image = image.image.name
        message.thumbnail = image.thumbnail.name
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        # A concurrent retry in another conversation's transaction committed first.
        existing = _existing_send(sender=sender, conversation_id=conversation.pk, client_id=client_id)
        if existing is None:
            raise
        return existing, False

    conversation.last_message = message
    conversation.last_activity_at = message.created_at
    conversation.save(update_fields=["last_message", "last_activity_at"])
    # Replying accepts a message request.
    Participant.objects.filter(conversation=conversation, user=sender).update(accepted=True)
    Participant.objects.filter(conversation=conversation, user=sender, last_read_message_id__lt=message.pk).update(
        last_read_message_id=message.pk
    )
    recipients = _recipients(conversation=conversation, member_ids=participant_ids, user_id=sender.pk)
    events.append(user_ids=recipients, kind="message.new", data=message_payload(message), ref=message.pk)
    return message, True


def message_send_image(
    *, sender: User, conversation_id: int, image, client_id: str, body: str = "", reply_to: int | None = None
) -> tuple[Message, bool]:
    """Sends a photo (with an optional caption in `body`): checked, re-encoded and stripped
    like a post's (core.images), with a thumbnail. Idempotent on client_id like a text
    send (a retry writes no file); the files of a send that fails are removed again."""
    message_validate(body=body, client_id=client_id, allow_empty=True)
    reply_validate(reply_to)
    if not is_id(conversation_id):
        raise NotFound("No such conversation.")
    processed = image_process(upload=image, field="image")
    # Files are written before the transaction (no lock held during I/O), as a post's are.
    stored = Message()
    stored.image.save(processed.image.name, processed.image, save=False)
    stored.thumbnail.save(processed.thumbnail.name, processed.thumbnail, save=False)
    try:
        with transaction.atomic():
            message, created = _message_send_orm(
                sender=sender,
                conversation_id=conversation_id,
                body=body,
                client_id=client_id,
                reply_to=reply_to,
                image=stored,
            )
    except BaseException:
        _delete_stored(stored)
        raise
    if not created:
        _delete_stored(stored)
    return message, created


def _delete_stored(message: Message) -> None:
    """Removes a message's image files from the media store (an orphan is harmless)."""
    for field in (message.image, message.thumbnail):
        if field and field.name:
            try:
                field.storage.delete(field.name)
            except Exception:  # noqa: BLE001 - a file left behind is logged, not fatal
                log.warning("could not delete %s", field.name, exc_info=True)


def _own_message(*, user: User, message_id) -> tuple[Message, list[int]]:
    """A message the user sent, row-locked with its conversation; 404 otherwise (or when
    the user has left the conversation). Returns it and the conversation's member ids."""
    if not is_id(message_id):
        raise NotFound("No such message.")
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("sender", "conversation")
        .filter(pk=message_id, sender=user, conversation__participants__user=user)
        .first()
    )
    if message is None:
        raise NotFound("No such message.")
    return message, _member_ids(message.conversation_id)


@transaction.atomic
def message_edit(*, user: User, message_id, body) -> Message:
    """The sender edits a message's text (a photo's caption) within 15 minutes of sending
    it; everyone who got it gets `message.update` (the message). An unsent message cannot
    be edited (409); after the window, 403."""
    message, member_ids = _own_message(user=user, message_id=message_id)
    message_validate(body=body, client_id=message.client_id, allow_empty=message.kind == Message.KIND_IMAGE)
    if message.deleted:
        raise Conflict("This message was unsent.")
    now = timezone.now()
    if now - message.created_at > EDIT_WINDOW:
        raise PermissionDenied("A message can be edited for 15 minutes after it was sent.")
    message.body = body
    message.edited_at = now
    message.save(update_fields=["body", "edited_at"])
    recipients = _recipients(conversation=message.conversation, member_ids=member_ids, user_id=user.pk)
    events.append(user_ids=recipients, kind="message.update", data=message_payload(message), ref=message.pk)
    return message


@transaction.atomic
def message_unsend(*, user: User, message_id) -> Message:
    """The sender unsends a message for everyone: its text and image leave the database
    (the row stays, `deleted`, so replies and the log still point at it), its reactions
    go, the image files leave the media store after commit, and every member gets
    `message.delete` `{conversation, id}`. The log holds no text of it anywhere
    (`message.new` and `message.update` are logged by reference), so a replay shows it
    deleted. A repeat is a no-op."""
    message, member_ids = _own_message(user=user, message_id=message_id)
    if message.deleted:
        return message
    gone = Message(image=message.image.name, thumbnail=message.thumbnail.name)
    message.body = ""
    message.deleted = True
    message.image = ""
    message.thumbnail = ""
    message.save(update_fields=["body", "deleted", "image", "thumbnail"])
    Reaction.objects.filter(message=message).delete()
    events.append(
        user_ids=member_ids,
        kind="message.delete",
        data=delete_payload(conversation_id=message.conversation_id, message_id=message.pk),
    )
    transaction.on_commit(lambda: _delete_stored(gone), robust=True)
    return message


def emoji_validate(emoji) -> str:
    """One grapheme (an emoji with its modifiers, joiners and variation selectors, a flag,
    a keycap) of at most 16 bytes in UTF-8."""
    _check_text(emoji, name="emoji")
    if not emoji or len(emoji.encode("utf-8")) > EMOJI_MAX_BYTES or not _one_grapheme(emoji):
        raise ValidationError({"emoji": [f"One emoji of at most {EMOJI_MAX_BYTES} bytes."]})
    return emoji


def _extends(ch: str) -> bool:
    """Code points that extend the grapheme before them."""
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or cp in (0x200D, 0xFE0E, 0xFE0F, 0x20E3)
        or 0x1F3FB <= cp <= 0x1F3FF  # skin tones
        or 0xE0020 <= cp <= 0xE007F  # tag sequences (subdivision flags)
    )


def _one_grapheme(text: str) -> bool:
    first = text[0]
    if unicodedata.category(first) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me", "Mc") and first != "\u200d":
        return False
    if first == "\u200d":
        return False
    regional = 0x1F1E6 <= ord(first) <= 0x1F1FF
    after_joiner = False
    for i, ch in enumerate(text[1:], start=1):
        if after_joiner:
            after_joiner = False
            if unicodedata.category(ch) in ("Cc", "Zs", "Zl", "Zp"):
                return False
            continue
        if ch == "\u200d":
            after_joiner = True
            continue
        if regional and i == 1 and 0x1F1E6 <= ord(ch) <= 0x1F1FF:
            continue  # a flag: two regional indicators
        if not _extends(ch):
            return False
    return not after_joiner


def _visible_message(*, user: User, message_id) -> tuple[Message, list[int], Conversation]:
    """A message of one of the user's conversations that the user may see (not across a
    block), row-locked; 404 otherwise."""
    if not is_id(message_id):
        raise NotFound("No such message.")
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("conversation")
        .filter(pk=message_id, conversation__participants__user=user)
        .first()
    )
    if message is None:
        raise NotFound("No such message.")
    sender_id = message.sender_id
    if sender_id is not None and sender_id != user.pk and block_exists(user.pk, sender_id):
        raise NotFound("No such message.")
    member_ids = _member_ids(message.conversation_id)
    return message, member_ids, message.conversation


@transaction.atomic
def reaction_set(*, user: User, message_id, emoji) -> ReactionPayload:
    """Sets (or replaces) the user's reaction to a message: one per person per message.
    Everyone in the conversation who may hear of the user gets `message.reaction`; setting
    the same emoji again is a no-op. Returns the event's data."""
    emoji = emoji_validate(emoji)
    message, member_ids, conversation = _visible_message(user=user, message_id=message_id)
    if message.deleted:
        raise Conflict("This message was unsent.")
    if conversation.direct_key is not None and block_exists(*_pair(member_ids)):
        raise PermissionDenied("You cannot react in this conversation.")
    existing = Reaction.objects.filter(message=message, user=user).first()
    data = reaction_payload(conversation_id=conversation.pk, message_id=message.pk, user_id=user.pk, emoji=emoji)
    if existing is not None and existing.emoji == emoji:
        return data
    if existing is not None:
        existing.delete()
    Reaction.objects.create(message=message, user=user, emoji=emoji)
    recipients = _recipients(conversation=conversation, member_ids=member_ids, user_id=user.pk)
    events.append(user_ids=recipients, kind="message.reaction", data=data)
    return data


def _pair(member_ids: list[int]) -> tuple[int, int]:
    return (member_ids[0], member_ids[-1])


@transaction.atomic
def reaction_delete(*, user: User, message_id) -> ReactionPayload:
    """Removes the user's reaction to a message (idempotent): `message.reaction` with
    emoji null when there was one."""
    message, member_ids, conversation = _visible_message(user=user, message_id=message_id)
    data = reaction_payload(conversation_id=conversation.pk, message_id=message.pk, user_id=user.pk, emoji=None)
    deleted, _ = Reaction.objects.filter(message=message, user=user).delete()
    if deleted:
        recipients = _recipients(conversation=conversation, member_ids=member_ids, user_id=user.pk)
        events.append(user_ids=recipients, kind="message.reaction", data=data)
    return data


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
    # No read receipts out of a message request: only the reader's own tabs hear of it.
    recipients = _member_ids(conversation_id) if participant.accepted else [user.pk]
    events.append(
        user_ids=recipients,
        kind="message.read",
        data=read_payload(conversation_id=conversation_id, user=user, message_id=message_id),
    )
    return participant


def _my_participant(*, user: User, conversation_id) -> Participant:
    """The user's participant row in a conversation, locked; 404 when not theirs."""
    if not is_id(conversation_id):
        raise NotFound("No such conversation.")
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("conversation")
        .filter(conversation_id=conversation_id, user=user)
        .first()
    )
    if participant is None:
        raise NotFound("No such conversation.")
    return participant


@transaction.atomic
def conversation_accept(*, user: User, conversation_id) -> None:
    """Accepts a message request (idempotent): the conversation moves to the inbox."""
    participant = _my_participant(user=user, conversation_id=conversation_id)
    if not participant.accepted or participant.hidden_up_to is not None:
        participant.accepted = True
        participant.hidden_up_to = None
        participant.save(update_fields=["accepted", "hidden_up_to"])


@transaction.atomic
def conversation_hide(*, user: User, conversation_id) -> None:
    """Deletes a conversation for the user alone: it leaves their lists, and its messages
    so far their pages; a newer message brings it back (a request stays a request)."""
    participant = _my_participant(user=user, conversation_id=conversation_id)
    participant.hidden_up_to = participant.conversation.last_message_id or 0
    participant.save(update_fields=["hidden_up_to"])


@transaction.atomic
def conversation_mute(*, user: User, conversation_id, muted: bool) -> None:
    """Mutes or unmutes a conversation for the user (idempotent). Events still arrive;
    clients stay quiet for it."""
    participant = _my_participant(user=user, conversation_id=conversation_id)
    if participant.muted != muted:
        participant.muted = muted
        participant.save(update_fields=["muted"])


def _shared_of(conversation_id: int) -> dict:
    conversation = Conversation.objects.prefetch_related(
        Prefetch("participants", queryset=Participant.objects.select_related("user").order_by("id"))
    ).get(pk=conversation_id)
    return conversation_shared(conversation)


def _announce_update(*, conversation_id: int, user_ids: list[int]) -> None:
    events.append(user_ids=user_ids, kind="conversation.update", data=_shared_of(conversation_id))


def _group_for_member(*, user: User, conversation_id) -> Conversation:
    conversation = _locked_conversation(user=user, conversation_id=conversation_id)
    if conversation.direct_key is not None:
        raise ValidationError({"detail": ["Only a group conversation has a title and changing members."]})
    return conversation


@transaction.atomic
def conversation_set_title(*, user: User, conversation_id, title) -> Conversation:
    """A member renames a group; every member gets `conversation.update`."""
    _check_text(title, name="title")
    title = title.strip()
    if len(title) > TITLE_MAX:
        raise ValidationError({"title": [f"A title has at most {TITLE_MAX} characters."]})
    conversation = _group_for_member(user=user, conversation_id=conversation_id)
    if conversation.title != title:
        conversation.title = title
        conversation.save(update_fields=["title"])
        _announce_update(conversation_id=conversation.pk, user_ids=_member_ids(conversation.pk))
    return conversation


@transaction.atomic
def participants_add(*, user: User, conversation_id, usernames) -> Conversation:
    """A member adds people to a group (those already in it are skipped). Refused (403)
    when a block stands between any two of the people who would be in it; the group stays
    within 51 people. Old and new members get `conversation.update`."""
    if not isinstance(usernames, list) or not usernames or len(usernames) > GROUP_MAX_OTHERS + 1:
        raise ValidationError({"usernames": ["Give a non-empty list of usernames."]})
    for name in usernames:
        if not is_username(name):
            raise ValidationError({"usernames": [f"No such user: {str(name)[:30]}"]})
    conversation = _group_for_member(user=user, conversation_id=conversation_id)
    member_ids = _member_ids(conversation.pk)
    new_ids = [u.pk for u in _users_by_username(usernames) if u.pk not in member_ids]
    if not new_ids:
        return conversation
    if len(member_ids) + len(new_ids) > GROUP_MAX_OTHERS + 1:
        raise ValidationError({"usernames": [f"At most {GROUP_MAX_OTHERS + 1} people per conversation."]})
    if _block_within(member_ids + new_ids):
        raise PermissionDenied("These people cannot be in one conversation.")
    # Whoever is added starts reading from now: what came before is not theirs to see.
    last = conversation.last_message_id or 0
    Participant.objects.bulk_create(
        [
            Participant(conversation=conversation, user_id=uid, last_read_message_id=last, hidden_up_to=last or None)
            for uid in new_ids
        ]
    )
    _announce_update(conversation_id=conversation.pk, user_ids=member_ids + new_ids)
    return conversation


@transaction.atomic
def participant_remove(*, user: User, conversation_id, username) -> None:
    """Leaves a group (only yourself: removing someone else is 403). The one who left and
    the members who stay get `conversation.update`; nothing more of the group reaches the
    one who left."""
    conversation = _group_for_member(user=user, conversation_id=conversation_id)
    if not isinstance(username, str) or username.lower() != user.username.lower():
        raise PermissionDenied("You can only remove yourself from a group.")
    member_ids = _member_ids(conversation.pk)
    Participant.objects.filter(conversation=conversation, user=user).delete()
    _announce_update(conversation_id=conversation.pk, user_ids=member_ids)
