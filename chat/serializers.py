from rest_framework import serializers

from accounts.serializers import UserBriefSerializer
from chat.models import Message


class MessageSerializer(serializers.ModelSerializer):
    """message: `{id, conversation, sender, body, client_id, created_at}`; also the
    `data` of a `message.new` event."""

    conversation = serializers.IntegerField(source="conversation_id")
    sender = UserBriefSerializer()

    class Meta:
        model = Message
        fields = ["id", "conversation", "sender", "body", "client_id", "created_at"]


def message_payload(message: Message) -> dict:
    return dict(MessageSerializer(message).data)
