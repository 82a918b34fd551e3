"""The fast wire functions give exactly what their serializers' declared fields give."""

import pytest
from rest_framework import serializers

from accounts.serializers import UserBriefSerializer, user_brief
from chat.serializers import MessageSerializer, message_payload
from chat.services import conversation_open, message_send
from tests.factories import UserFactory, client_id, image_upload


def declared_output(serializer_class, instance) -> dict:
    """What DRF's own field machinery makes of the instance."""
    return dict(serializers.ModelSerializer.to_representation(serializer_class(instance), instance))


@pytest.mark.django_db
def test_user_brief_matches_its_serializer_with_and_without_avatar():
    plain = UserFactory(full_name="Ada Lovelace")
    pictured = UserFactory()
    pictured.avatar.save("a.jpg", image_upload(), save=True)
    for user in (plain, pictured):
        assert user_brief(user) == declared_output(UserBriefSerializer, user)
        assert UserBriefSerializer(user).data == user_brief(user)


@pytest.mark.django_db
def test_message_payload_matches_its_serializer():
    alice, bob = UserFactory(), UserFactory()
    conversation, _ = conversation_open(creator=alice, usernames=[bob.username])
    message, _ = message_send(sender=alice, conversation_id=conversation.pk, body="hi ✨ <b>", client_id=client_id())
    expected = declared_output(MessageSerializer, message)
    expected["sender"] = dict(expected["sender"])
    assert message_payload(message) == expected
    assert message_payload(message)["created_at"].endswith("Z")
