"""DESIGN 6.5 in the services: replies, edit, unsend (with erasure), reactions, message
requests, read positions, mute, groups, and blocks inside groups."""

import json
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from accounts.models import Block, Follow
from chat import selectors
from chat.models import Message, Participant, Reaction
from chat.serializers import ConversationSerializer, message_payload
from chat.services import (
    conversation_accept,
    conversation_hide,
    conversation_mark_read,
    conversation_mute,
    conversation_open,
    conversation_set_title,
    emoji_validate,
    message_edit,
    message_send,
    message_send_image,
    message_unsend,
    participant_remove,
    participants_add,
    reaction_delete,
    reaction_set,
)
from core.errors import Conflict
from realtime import events
from realtime.models import Event
from tests.factories import UserFactory, client_id, image_upload

pytestmark = pytest.mark.django_db


def events_of(user, kind: str | None = None) -> list[tuple[str, dict]]:
    return [
        (f["event"], f["data"]) for f in events.replay(user_id=user.pk, after=0) if kind is None or f["event"] == kind
    ]


def accepted_direct(a, b) -> int:
    conversation, _ = conversation_open(creator=a, usernames=[b.username])
    Participant.objects.filter(conversation=conversation).update(accepted=True)
    return conversation.pk


def send(sender, conversation_id: int, body: str = "hi", **kwargs) -> Message:
    return message_send(sender=sender, conversation_id=conversation_id, body=body, client_id=client_id(), **kwargs)[0]


def shaped(user, conversation_id: int) -> dict:
    return ConversationSerializer(selectors.conversation_get_for_user(user=user, conversation_id=conversation_id)).data


def box(user, name: str) -> list[int]:
    return [c.pk for c in selectors.conversation_list_for_user(user=user, box=name)]


# replies


def test_a_reply_names_a_message_of_the_same_conversation():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    other = accepted_direct(alice, carol)
    original = send(alice, conversation, "question")
    elsewhere = send(alice, other, "elsewhere")
    # when
    reply = send(bob, conversation, "answer", reply_to=original.pk)
    # then
    assert reply.reply_to_id == original.pk
    new = [data for _, data in events_of(alice, "message.new")]
    assert new[-1]["reply_to"] == original.pk
    with pytest.raises(ValidationError) as refused:
        send(bob, conversation, "wrong", reply_to=elsewhere.pk)
    assert "reply_to" in refused.value.detail
    with pytest.raises(ValidationError):
        send(bob, conversation, "wrong", reply_to="7")


# edit


def test_the_sender_edits_within_fifteen_minutes_and_everyone_hears_it():
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    message = send(alice, conversation, "helo")
    # when
    edited = message_edit(user=alice, message_id=message.pk, body="hello")
    # then
    assert edited.edited_at is not None
    for person in (alice, bob):
        kind, data = events_of(person)[-1]
        assert kind == "message.update"
        assert data["id"] == message.pk and data["body"] == "hello" and data["edited_at"] is not None
    with pytest.raises(NotFound):
        message_edit(user=bob, message_id=message.pk, body="mine now")
    Message.objects.filter(pk=message.pk).update(created_at=message.created_at - timedelta(minutes=16))
    with pytest.raises(PermissionDenied):
        message_edit(user=alice, message_id=message.pk, body="too late")


def test_the_log_stores_no_text_of_an_edit():
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    message = send(alice, conversation, "first words")
    message_edit(user=alice, message_id=message.pk, body="secret second words")
    stored = list(Event.objects.values_list("payload", flat=True))
    assert not any(p and "words" in p for p in stored)


# unsend


def test_unsend_erases_the_text_everywhere_and_a_replay_shows_it_deleted():
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    message = send(alice, conversation, "regrettable words")
    message_edit(user=alice, message_id=message.pk, body="regrettable words, edited")
    reaction_set(user=bob, message_id=message.pk, emoji="😮")
    before = events.last_event_id(user_id=bob.pk)
    # when
    message_unsend(user=alice, message_id=message.pk)
    # then: the row holds no text (ciphertext of "" only), the log none either
    row = Message.objects.get(pk=message.pk)
    assert row.deleted and row.body == ""
    assert not Reaction.objects.filter(message_id=message.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM chat_message WHERE id = %s", [message.pk])
        (raw,) = cursor.fetchone()
    assert "regrettable" not in raw
    for payload in Event.objects.values_list("payload", flat=True):
        assert payload is None or "regrettable" not in payload
    # a replay from before the unsend: every frame shows the message deleted, never its text
    replay = events.replay(user_id=bob.pk, after=0)
    assert "regrettable" not in json.dumps(replay)
    kinds = [f["event"] for f in replay]
    assert kinds == ["message.new", "message.update", "message.reaction", "message.delete"]
    assert replay[0]["data"]["deleted"] is True and replay[0]["data"]["body"] == ""
    assert replay[1]["data"]["deleted"] is True
    assert replay[-1]["data"] == {"conversation": conversation, "id": message.pk}
    assert [f["event"] for f in events.replay(user_id=bob.pk, after=before)] == ["message.delete"]
    # a REST page shows it deleted too
    page = list(selectors.message_page(user=bob, conversation_id=conversation))
    assert page[0].deleted and page[0].body == ""
    # a repeat is a no-op; someone else cannot unsend it
    message_unsend(user=alice, message_id=message.pk)
    assert len(events_of(bob, "message.delete")) == 1
    with pytest.raises(NotFound):
        message_unsend(user=bob, message_id=message.pk)
    with pytest.raises(Conflict):
        message_edit(user=alice, message_id=message.pk, body="back")


def test_unsending_a_photo_removes_its_files_from_the_media_store(django_capture_on_commit_callbacks):
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    message, created = message_send_image(
        sender=alice, conversation_id=conversation, image=image_upload(), client_id=client_id()
    )
    assert created and message.kind == "image"
    names = [message.image.name, message.thumbnail.name]
    assert all(default_storage.exists(name) for name in names)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        message_unsend(user=alice, message_id=message.pk)
    # then
    assert not any(default_storage.exists(name) for name in names)
    row = Message.objects.get(pk=message.pk)
    assert not row.image and not row.thumbnail


def test_a_photo_send_is_idempotent_and_leaves_no_extra_files():
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    cid = client_id()
    first, created = message_send_image(sender=alice, conversation_id=conversation, image=image_upload(), client_id=cid)
    again, created_again = message_send_image(
        sender=alice, conversation_id=conversation, image=image_upload(), client_id=cid
    )
    assert created and not created_again and again.pk == first.pk
    _dirs, files = default_storage.listdir(first.image.name.rsplit("/", 1)[0])
    assert len(files) == 1
    data = events_of(bob, "message.new")[0][1]
    assert data["kind"] == "image" and data["image_url"] and data["thumbnail_url"]


def test_a_photo_that_is_not_an_image_is_refused():
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    with pytest.raises(ValidationError):
        message_send_image(
            sender=alice,
            conversation_id=conversation,
            image=SimpleUploadedFile("x.jpg", b"not an image", content_type="image/jpeg"),
            client_id=client_id(),
        )
    assert not Message.objects.exists()


# reactions


def test_one_reaction_per_person_set_replace_and_remove():
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    message = send(alice, conversation)
    # when
    reaction_set(user=bob, message_id=message.pk, emoji="❤️")
    reaction_set(user=bob, message_id=message.pk, emoji="❤️")  # a repeat: nothing new
    reaction_set(user=alice, message_id=message.pk, emoji="❤️")
    reaction_set(user=bob, message_id=message.pk, emoji="😂")
    # then
    (row,) = selectors.message_page(user=alice, conversation_id=conversation)
    assert message_payload(row)["reactions"] == [
        {"emoji": "❤️", "users": [alice.pk]},
        {"emoji": "😂", "users": [bob.pk]},
    ]
    reactions = [data for _, data in events_of(alice, "message.reaction")]
    assert [(r["user"], r["emoji"]) for r in reactions] == [(bob.pk, "❤️"), (alice.pk, "❤️"), (bob.pk, "😂")]
    # removing: once an event, then a no-op
    reaction_delete(user=bob, message_id=message.pk)
    reaction_delete(user=bob, message_id=message.pk)
    assert events_of(alice, "message.reaction")[-1][1] == {
        "conversation": conversation,
        "message": message.pk,
        "user": bob.pk,
        "emoji": None,
    }
    assert len(events_of(alice, "message.reaction")) == 4
    outsider = UserFactory()
    with pytest.raises(NotFound):
        reaction_set(user=outsider, message_id=message.pk, emoji="❤️")


@pytest.mark.parametrize("emoji", ["❤️", "👍🏽", "👩‍💻", "🇫🇷", "1️⃣", "a"])
def test_an_emoji_is_one_grapheme(emoji):
    assert emoji_validate(emoji) == emoji


@pytest.mark.parametrize("emoji", ["", "❤️❤️", "ab", "\u200d", " ", "\x00", "👨‍👩‍👧", 5, None])
def test_more_or_less_than_one_grapheme_is_refused(emoji):
    with pytest.raises(ValidationError):
        emoji_validate(emoji)


# message requests


def test_a_strangers_direct_message_is_a_request_until_accepted():
    stranger, me = UserFactory(), UserFactory()
    conversation, _ = conversation_open(creator=stranger, usernames=[me.username])
    # an empty request shows nowhere for me; the opener sees it in the inbox
    assert box(me, "accepted") == [] and box(me, "requests") == []
    assert box(stranger, "accepted") == [conversation.pk]
    message = send(stranger, conversation.pk, "hello?")
    assert box(me, "requests") == [conversation.pk] and box(me, "accepted") == []
    assert shaped(me, conversation.pk)["status"] == "request"
    # reading a request sends no receipt to the sender
    conversation_mark_read(user=me, conversation_id=conversation.pk, message_id=message.pk)
    assert events_of(stranger, "message.read") == []
    assert str(me.pk) not in shaped(stranger, conversation.pk)["read_positions"]
    # when
    conversation_accept(user=me, conversation_id=conversation.pk)
    # then
    assert box(me, "accepted") == [conversation.pk] and box(me, "requests") == []
    assert shaped(stranger, conversation.pk)["read_positions"] == {str(me.pk): message.pk}


def test_replying_accepts_a_request_and_a_follower_gets_no_request():
    stranger, me, friend = UserFactory(), UserFactory(), UserFactory()
    conversation, _ = conversation_open(creator=stranger, usernames=[me.username])
    send(stranger, conversation.pk, "hello?")
    send(me, conversation.pk, "hi!")
    assert box(me, "accepted") == [conversation.pk]
    Follow.objects.create(follower=me, followee=friend)
    from_friend, _ = conversation_open(creator=friend, usernames=[me.username])
    assert shaped(me, from_friend.pk)["status"] == "accepted"


def test_deleting_a_conversation_hides_it_for_me_until_a_newer_message():
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    send(alice, conversation, "old")
    conversation_hide(user=bob, conversation_id=conversation)
    assert box(bob, "accepted") == [] and box(alice, "accepted") == [conversation]
    assert list(selectors.message_page(user=bob, conversation_id=conversation)) == []
    newer = send(alice, conversation, "new")
    assert box(bob, "accepted") == [conversation]
    assert [m.pk for m in selectors.message_page(user=bob, conversation_id=conversation)] == [newer.pk]


# presence


def test_presence_peers_share_an_accepted_conversation_with_a_message_and_no_block():
    me, friend, empty, stranger, blocked = (UserFactory() for _ in range(5))
    send(friend, accepted_direct(me, friend), "hi")
    accepted_direct(me, empty)  # no message
    request, _ = conversation_open(creator=stranger, usernames=[me.username])
    send(stranger, request.pk, "hello?")  # a request I never accepted
    send(blocked, accepted_direct(me, blocked), "hi")
    Block.objects.create(blocker=me, blocked=blocked)
    # then
    assert selectors.conversation_peer_ids(user_id=me.pk) == [friend.pk]
    assert sorted(selectors.conversation_peer_ids(user_id=friend.pk)) == [me.pk]
    assert selectors.conversation_peer_ids(user_id=stranger.pk) == []
    assert selectors.conversation_peer_ids(user_id=blocked.pk) == []


# read positions and mute


def test_read_positions_show_the_others_and_mute_is_mine_alone():
    alice, bob = UserFactory(), UserFactory()
    conversation = accepted_direct(alice, bob)
    message = send(alice, conversation)
    conversation_mark_read(user=bob, conversation_id=conversation, message_id=message.pk)
    assert shaped(alice, conversation)["read_positions"] == {str(bob.pk): message.pk}
    assert shaped(bob, conversation)["read_positions"] == {str(alice.pk): message.pk}
    conversation_mute(user=bob, conversation_id=conversation, muted=True)
    conversation_mute(user=bob, conversation_id=conversation, muted=True)
    assert shaped(bob, conversation)["muted"] is True and shaped(alice, conversation)["muted"] is False
    send(alice, conversation, "still delivered")
    assert events_of(bob, "message.new")[-1][1]["body"] == "still delivered"
    conversation_mute(user=bob, conversation_id=conversation, muted=False)
    assert shaped(bob, conversation)["muted"] is False


# groups


def test_group_title_add_and_leave_are_conversation_updates_to_old_and_new_members():
    alice, bob, carol, dave = (UserFactory() for _ in range(4))
    group, _ = conversation_open(creator=alice, usernames=[bob.username, carol.username])
    send(alice, group.pk, "before dave")
    # title
    conversation_set_title(user=bob, conversation_id=group.pk, title="  Trip  ")
    (kind, data), *_ = reversed(events_of(carol))
    assert kind == "conversation.update" and data["title"] == "Trip" and data["id"] == group.pk
    # add
    participants_add(user=alice, conversation_id=group.pk, usernames=[dave.username, bob.username])
    for person in (alice, bob, carol, dave):
        kind, data = events_of(person)[-1]
        assert kind == "conversation.update"
        assert {u["id"] for u in data["participants"]} == {alice.pk, bob.pk, carol.pk, dave.pk}
    assert list(selectors.message_page(user=dave, conversation_id=group.pk)) == []
    # leave: carol hears it, then nothing more
    participant_remove(user=carol, conversation_id=group.pk, username=carol.username)
    kind, data = events_of(carol)[-1]
    assert kind == "conversation.update" and carol.pk not in {u["id"] for u in data["participants"]}
    carol_count = len(events_of(carol))
    send(alice, group.pk, "after carol")
    assert len(events_of(carol)) == carol_count
    with pytest.raises(NotFound):
        send(carol, group.pk, "let me back")
    with pytest.raises(PermissionDenied):
        participant_remove(user=alice, conversation_id=group.pk, username=bob.username)
    # a 1:1 has no title
    with pytest.raises(ValidationError):
        conversation_set_title(user=alice, conversation_id=accepted_direct(alice, bob), title="x")


# blocks inside groups


def test_a_block_stops_delivery_between_two_members_of_a_group_both_ways():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    group, _ = conversation_open(creator=carol, usernames=[alice.username, bob.username])
    Block.objects.create(blocker=alice, blocked=bob)
    # when
    from_bob = send(bob, group.pk, "from bob")
    from_alice = send(alice, group.pk, "from alice")
    # then
    assert [d["id"] for _, d in events_of(alice, "message.new")] == [from_alice.pk]
    assert [d["id"] for _, d in events_of(bob, "message.new")] == [from_bob.pk]
    assert [d["id"] for _, d in events_of(carol, "message.new")] == [from_bob.pk, from_alice.pk]
    assert [m.pk for m in selectors.message_page(user=alice, conversation_id=group.pk)] == [from_alice.pk]
    # reactions and edits do not cross either
    reaction_set(user=carol, message_id=from_bob.pk, emoji="👍")
    with pytest.raises(NotFound):
        reaction_set(user=alice, message_id=from_bob.pk, emoji="👍")
    message_edit(user=bob, message_id=from_bob.pk, body="edited")
    assert events_of(alice, "message.update") == []


def test_nobody_opens_a_group_or_adds_to_one_across_a_block():
    alice, bob, carol, dave = (UserFactory() for _ in range(4))
    Block.objects.create(blocker=alice, blocked=bob)
    with pytest.raises(PermissionDenied):
        conversation_open(creator=carol, usernames=[alice.username, bob.username])
    group, _ = conversation_open(creator=carol, usernames=[alice.username, dave.username])
    with pytest.raises(PermissionDenied):
        participants_add(user=carol, conversation_id=group.pk, usernames=[bob.username])
