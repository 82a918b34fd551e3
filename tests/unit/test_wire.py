"""The fast wire functions give exactly what their serializers' declared fields give."""

import gc
import weakref

import pytest
from rest_framework import serializers

from accounts.models import User
from accounts.serializers import UserBriefSerializer, user_brief
from chat.serializers import MessageSerializer, message_payload
from chat.services import conversation_open, message_send
from core.wire import file_url
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


@pytest.mark.django_db
def test_file_url_is_the_fields_url_or_none_loaded_saved_or_deferred():
    plain = UserFactory()
    pictured = UserFactory()
    pictured.avatar.save("a.jpg", image_upload(), save=True)
    assert file_url(plain, "avatar") is None
    assert file_url(pictured, "avatar") == pictured.avatar.url  # a FieldFile, once saved
    loaded = User.objects.get(pk=pictured.pk)
    assert file_url(loaded, "avatar") == pictured.avatar.url  # the stored name
    deferred = User.objects.only("username").get(pk=pictured.pk)
    assert file_url(deferred, "avatar") == pictured.avatar.url


@pytest.mark.django_db
def test_a_brief_leaves_no_reference_cycle_behind():
    # given: a user loaded as a socket's or a request's would be, with an avatar
    pictured = UserFactory()
    pictured.avatar.save("a.jpg", image_upload(), save=True)
    user = User.objects.get(pk=pictured.pk)
    gone = weakref.ref(user)
    gc.collect()
    gc.disable()
    try:
        # when: its brief is made and the user let go, with no garbage collection to help
        assert user_brief(user)["avatar_url"]
        del user
        # then: reference counting alone freed it (reading `user.avatar` would have cached a
        # FieldFile on it that refers back to it)
        assert gone() is None
    finally:
        gc.enable()
