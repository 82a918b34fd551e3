from datetime import datetime
from typing import TypedDict

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from accounts.serializers import UserBriefSerializer, user_brief
from chat.models import Conversation, Message
from core.wire import iso_time, represented_by


def message_data(
    *,
    message_id: int,
    conversation_id: int,
    sender: dict | None,
    body: str,
    client_id: str,
    created_at: datetime,
    deleted: bool = False,
) -> dict:
    """message: `{id, conversation, sender, body, client_id, created_at, deleted}`, `sender`
    a user brief (null once the sender deleted their account: then `deleted` is true and
    the body ""); also the `data` of a `message.new` event. The one description of the shape."""
    return {
        "id": message_id,
        "conversation": conversation_id,
        "sender": sender,
        "body": body,
        "client_id": client_id,
        "created_at": iso_time(created_at),
        "deleted": deleted,
    }


def message_payload(message: Message) -> dict:
    """`message_data` of a Message (its `sender` loaded already)."""
    return message_data(
        message_id=message.pk,
        conversation_id=message.conversation_id,
        sender=user_brief(message.sender) if message.sender is not None else None,
        body=message.body,
        client_id=message.client_id,
        created_at=message.created_at,
        deleted=message.deleted,
    )


class MessageSerializer(serializers.ModelSerializer):
    """message: `{id, conversation, sender, body, client_id, created_at, deleted}`; also the
    `data` of a `message.new` event."""

    to_representation = represented_by(message_payload)  # the output; the fields below describe it
    conversation = serializers.IntegerField(source="conversation_id")
    sender = UserBriefSerializer(allow_null=True)

    class Meta:
        model = Message
        fields = ["id", "conversation", "sender", "body", "client_id", "created_at", "deleted"]


class ReadPayload(TypedDict):
    """The `data` of a `message.read` event."""

    conversation: int
    user: dict
    message_id: int


def read_payload(*, conversation_id: int, user: User, message_id: int) -> ReadPayload:
    return {"conversation": conversation_id, "user": user_brief(user), "message_id": message_id}


class ConversationSerializer(serializers.ModelSerializer):
    """conversation: `{id, participants: [user...], last_message: message|null, unread_count}`.

    Expects the object from `chat.selectors` (participants prefetched with their users,
    `last_message__sender` joined, `unread_count` annotated)."""

    participants = serializers.SerializerMethodField()
    last_message = MessageSerializer(allow_null=True, read_only=True)
    unread_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Conversation
        fields = ["id", "participants", "last_message", "unread_count"]

    @extend_schema_field(UserBriefSerializer(many=True))
    def get_participants(self, conversation: Conversation) -> list[dict]:
        return [user_brief(p.user) for p in conversation.participants.all()]
