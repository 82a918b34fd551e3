from datetime import datetime
from typing import TypedDict

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from accounts.serializers import UserBriefSerializer, user_brief
from chat.models import Conversation, Message
from core.wire import file_url, iso_time, represented_by


def message_data(
    *,
    message_id: int,
    conversation_id: int,
    sender: dict | None,
    body: str,
    client_id: str,
    created_at: datetime,
    kind: str = Message.KIND_TEXT,
    image_url: str | None = None,
    thumbnail_url: str | None = None,
    reply_to: int | None = None,
    reactions: list[dict] | None = None,
    edited_at: datetime | None = None,
    deleted: bool = False,
) -> dict:
    """message: `{id, conversation, sender, body, client_id, created_at, kind, image_url,
    thumbnail_url, reply_to, reactions, edited_at, deleted}`, `sender` a user brief; also
    the `data` of `message.new` and `message.update` events. The one description of the
    shape. An unsent message shows no body and no image, whatever it is given; `sender` is
    null once the sender deleted their account (then `deleted` is true)."""
    return {
        "id": message_id,
        "conversation": conversation_id,
        "sender": sender,
        "body": "" if deleted else body,
        "client_id": client_id,
        "created_at": iso_time(created_at),
        "kind": kind,
        "image_url": None if deleted else image_url,
        "thumbnail_url": None if deleted else thumbnail_url,
        "reply_to": reply_to,
        "reactions": [] if deleted else (reactions or []),
        "edited_at": iso_time(edited_at) if edited_at is not None else None,
        "deleted": deleted,
    }


def reactions_data(pairs: list[tuple[str, int]]) -> list[dict]:
    """`[{"emoji", "users": [id, ...]}]` from (emoji, user id) pairs in reaction order:
    each emoji once, in the order it was first used."""
    grouped: dict[str, list[int]] = {}
    for emoji, user_id in pairs:
        grouped.setdefault(emoji, []).append(user_id)
    return [{"emoji": emoji, "users": users} for emoji, users in grouped.items()]


def _reaction_pairs(message: Message) -> list[tuple[str, int]]:
    # Prefetched by the selectors (`reactions` in id order); a message fresh from a write
    # asks once.
    cache = getattr(message, "_prefetched_objects_cache", {})
    if "reactions" in cache:
        return [(r.emoji, r.user_id) for r in sorted(cache["reactions"], key=lambda r: r.pk)]
    if message.pk is None or message._state.adding:
        return []
    return list(message.reactions.order_by("id").values_list("emoji", "user_id"))


def message_payload(message: Message) -> dict:
    """`message_data` of a Message (its `sender` loaded already)."""
    return message_data(
        message_id=message.pk,
        conversation_id=message.conversation_id,
        sender=user_brief(message.sender) if message.sender is not None else None,
        body=message.body,
        client_id=message.client_id,
        created_at=message.created_at,
        kind=message.kind,
        image_url=file_url(message, "image"),
        thumbnail_url=file_url(message, "thumbnail"),
        reply_to=message.reply_to_id,
        reactions=reactions_data(_reaction_pairs(message)),
        edited_at=message.edited_at,
        deleted=message.deleted,
    )


class ReactionSerializer(serializers.Serializer):
    emoji = serializers.CharField()
    users = serializers.ListField(child=serializers.IntegerField())


class MessageSerializer(serializers.ModelSerializer):
    """message (see `message_data`); also the `data` of `message.new` and `message.update`
    events."""

    to_representation = represented_by(message_payload)  # the output; the fields below describe it
    conversation = serializers.IntegerField(source="conversation_id")
    sender = UserBriefSerializer(allow_null=True)
    image_url = serializers.CharField(allow_null=True)
    thumbnail_url = serializers.CharField(allow_null=True)
    reply_to = serializers.IntegerField(source="reply_to_id", allow_null=True)
    reactions = ReactionSerializer(many=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "sender",
            "body",
            "client_id",
            "created_at",
            "kind",
            "image_url",
            "thumbnail_url",
            "reply_to",
            "reactions",
            "edited_at",
            "deleted",
        ]


class ReactionPayload(TypedDict):
    """The `data` of a `message.reaction` event (emoji None: removed)."""

    conversation: int
    message: int
    user: int
    emoji: str | None


class ReactionPayloadSerializer(serializers.Serializer):
    """The `data` of a `message.reaction` event; describes it for the schema."""

    conversation = serializers.IntegerField()
    message = serializers.IntegerField()
    user = serializers.IntegerField()
    emoji = serializers.CharField(allow_null=True)


def reaction_payload(*, conversation_id: int, message_id: int, user_id: int, emoji: str | None) -> ReactionPayload:
    return {"conversation": conversation_id, "message": message_id, "user": user_id, "emoji": emoji}


def delete_payload(*, conversation_id: int, message_id: int) -> dict:
    """The `data` of a `message.delete` event."""
    return {"conversation": conversation_id, "id": message_id}


class ReadPayload(TypedDict):
    """The `data` of a `message.read` event."""

    conversation: int
    user: dict
    message_id: int


def read_payload(*, conversation_id: int, user: User, message_id: int) -> ReadPayload:
    return {"conversation": conversation_id, "user": user_brief(user), "message_id": message_id}


def conversation_shared(conversation: Conversation) -> dict:
    """What every member sees alike of a conversation: `{id, participants, title,
    is_group}` (participants prefetched with their users); the `data` of a
    `conversation.update` event."""
    return {
        "id": conversation.pk,
        "participants": [user_brief(p.user) for p in conversation.participants.all()],
        "title": conversation.title,
        "is_group": conversation.direct_key is None,
    }


class ConversationSerializer(serializers.ModelSerializer):
    """conversation: `{id, participants: [user...], last_message: message|null, unread_count,
    status, muted, title, is_group, read_positions}`, the last five for the viewer.

    Expects the object from `chat.selectors` (participants prefetched with their users,
    `last_message__sender` joined, `unread_count`, `my_id`, `my_accepted`, `my_muted`
    annotated)."""

    participants = serializers.SerializerMethodField()
    last_message = MessageSerializer(allow_null=True, read_only=True)
    unread_count = serializers.IntegerField(read_only=True)
    status = serializers.SerializerMethodField()
    muted = serializers.BooleanField(source="my_muted", read_only=True)
    is_group = serializers.SerializerMethodField()
    read_positions = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "participants",
            "last_message",
            "unread_count",
            "status",
            "muted",
            "title",
            "is_group",
            "read_positions",
        ]

    @extend_schema_field(UserBriefSerializer(many=True))
    def get_participants(self, conversation: Conversation) -> list[dict]:
        return [user_brief(p.user) for p in conversation.participants.all()]

    def get_status(self, conversation: Conversation) -> str:
        return "accepted" if conversation.my_accepted else "request"  # type: ignore[attr-defined]

    def get_is_group(self, conversation: Conversation) -> bool:
        return conversation.direct_key is None

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
    def get_read_positions(self, conversation: Conversation) -> dict[str, int]:
        """The others' read positions; none of someone who has not accepted the request."""
        me = conversation.my_id  # type: ignore[attr-defined]
        return {
            str(p.user_id): p.last_read_message_id
            for p in conversation.participants.all()
            if p.user_id != me and p.accepted
        }
