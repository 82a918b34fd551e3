import asyncio
import json
import threading

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from accounts.models import Block
from accounts.serializers import user_brief
from chat import selectors
from chat.models import Conversation, Message, Participant
from chat.services import conversation_mark_read, conversation_open, message_send
from core.errors import Conflict
from realtime import events
from realtime.models import Event
from realtime.publish import user_group
from tests.factories import UserFactory, client_id


def kinds_for(user) -> list[tuple[str, dict]]:
    return [(f["event"], f["data"]) for f in events.replay(user_id=user.pk, after=0)]


def direct(a, b) -> Conversation:
    conversation, _ = conversation_open(creator=a, usernames=[b.username])
    return conversation


# conversation_open


@pytest.mark.django_db
def test_open_direct_creates_once_then_returns_the_existing_one():
    # given
    alice, bob = UserFactory(), UserFactory()
    # when
    first, created_first = conversation_open(creator=alice, usernames=[bob.username])
    second, created_second = conversation_open(creator=bob, usernames=[alice.username])
    # then
    assert created_first is True and created_second is False
    assert first.pk == second.pk
    assert first.direct_key == f"{min(alice.pk, bob.pk)}:{max(alice.pk, bob.pk)}"
    assert set(Participant.objects.filter(conversation=first).values_list("user_id", flat=True)) == {alice.pk, bob.pk}


@pytest.mark.django_db
def test_open_with_two_or_more_others_always_makes_a_new_group():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    first, created_first = conversation_open(creator=alice, usernames=[bob.username, carol.username])
    second, created_second = conversation_open(creator=alice, usernames=[carol.username, bob.username])
    assert created_first and created_second
    assert first.pk != second.pk
    assert first.direct_key is None
    assert Participant.objects.filter(conversation=first).count() == 3


@pytest.mark.django_db
def test_open_drops_yourself_and_duplicates_and_matches_names_case_insensitively():
    alice, bob = UserFactory(username="alice_a"), UserFactory(username="bob_b")
    conversation, created = conversation_open(creator=alice, usernames=["BOB_B", "bob_b", "alice_a"])
    assert created
    assert conversation.direct_key == f"{min(alice.pk, bob.pk)}:{max(alice.pk, bob.pk)}"
    assert Participant.objects.filter(conversation=conversation).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "usernames",
    [[], "bob", ["nobody_here"], [""], ["x" * 31], [7], ["ok\x00"]],
    ids=["empty", "not-a-list", "unknown", "blank", "too-long", "not-a-string", "nul"],
)
def test_open_rejects_bad_username_lists(usernames):
    alice = UserFactory()
    with pytest.raises(ValidationError) as caught:
        conversation_open(creator=alice, usernames=usernames)
    assert "usernames" in caught.value.detail
    assert Conversation.objects.count() == 0


@pytest.mark.django_db
def test_open_with_only_yourself_is_refused():
    alice = UserFactory()
    with pytest.raises(ValidationError):
        conversation_open(creator=alice, usernames=[alice.username])


@pytest.mark.django_db
def test_open_with_more_than_fifty_others_is_refused():
    alice = UserFactory()
    others = UserFactory.create_batch(51, password=None)
    with pytest.raises(ValidationError):
        conversation_open(creator=alice, usernames=[u.username for u in others])
    assert Conversation.objects.count() == 0


@pytest.mark.django_db
def test_open_with_an_inactive_user_is_unknown():
    alice, gone = UserFactory(), UserFactory(is_active=False)
    with pytest.raises(ValidationError):
        conversation_open(creator=alice, usernames=[gone.username])


@pytest.mark.django_db
@pytest.mark.parametrize("direction", ["i_blocked", "blocked_me"])
def test_open_with_a_blocked_person_either_way_is_forbidden(direction):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    if direction == "i_blocked":
        Block.objects.create(blocker=alice, blocked=bob)
    else:
        Block.objects.create(blocker=bob, blocked=alice)
    with pytest.raises(PermissionDenied):
        conversation_open(creator=alice, usernames=[bob.username])
    with pytest.raises(PermissionDenied):
        conversation_open(creator=alice, usernames=[bob.username, carol.username])
    assert Conversation.objects.count() == 0


# message_send


@pytest.mark.django_db
def test_send_stores_the_message_and_tells_every_participant_including_the_sender(django_capture_on_commit_callbacks):
    # given
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    group, _ = conversation_open(creator=alice, usernames=[bob.username, carol.username])
    cid = client_id()
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        message, created = message_send(sender=alice, conversation_id=group.pk, body="hello there", client_id=cid)
    # then
    assert created
    assert len(callbacks) == 1  # the publish waits for the commit
    expected = {
        "id": message.pk,
        "conversation": group.pk,
        "sender": user_brief(alice),
        "body": "hello there",
        "client_id": cid,
        "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
        "deleted": False,
    }
    for person in (alice, bob, carol):
        assert kinds_for(person) == [("message.new", expected)]
    group.refresh_from_db()
    assert group.last_message_id == message.pk
    assert group.last_activity_at == message.created_at
    positions = dict(Participant.objects.filter(conversation=group).values_list("user_id", "last_read_message_id"))
    assert positions == {alice.pk: message.pk, bob.pk: 0, carol.pk: 0}


@pytest.mark.django_db
def test_a_retried_send_returns_the_original_and_appends_no_event():
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    cid = client_id()
    first, created_first = message_send(sender=alice, conversation_id=conversation.pk, body="once", client_id=cid)
    again, created_again = message_send(sender=alice, conversation_id=conversation.pk, body="once", client_id=cid)
    assert created_first is True and created_again is False
    assert again.pk == first.pk
    assert Message.objects.count() == 1
    assert Event.objects.filter(user=alice).count() == 1
    assert Event.objects.filter(user=bob).count() == 1


@pytest.mark.django_db
def test_the_same_client_id_from_two_senders_is_two_messages():
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    cid = client_id()
    message_send(sender=alice, conversation_id=conversation.pk, body="a", client_id=cid)
    _, created = message_send(sender=bob, conversation_id=conversation.pk, body="b", client_id=cid)
    assert created
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_a_client_id_reused_in_another_conversation_conflicts():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    with_bob, with_carol = direct(alice, bob), direct(alice, carol)
    cid = client_id()
    message_send(sender=alice, conversation_id=with_bob.pk, body="hi", client_id=cid)
    with pytest.raises(Conflict):
        message_send(sender=alice, conversation_id=with_carol.pk, body="hi", client_id=cid)
    assert Message.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("conversation_id", ["missing", "not_mine", 0, -1, 2**70, "7", True, None])
def test_send_to_a_conversation_you_are_not_in_is_not_found(conversation_id):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    theirs = direct(bob, carol)
    target = {"missing": theirs.pk + 1000, "not_mine": theirs.pk}.get(conversation_id, conversation_id)
    with pytest.raises(NotFound):
        message_send(sender=alice, conversation_id=target, body="hi", client_id=client_id())
    assert Message.objects.count() == 0
    assert Event.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("direction", ["sender_blocked", "blocked_sender"])
def test_send_in_a_direct_conversation_with_a_block_is_forbidden(direction):
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    if direction == "sender_blocked":
        Block.objects.create(blocker=bob, blocked=alice)
    else:
        Block.objects.create(blocker=alice, blocked=bob)
    with pytest.raises(PermissionDenied):
        message_send(sender=alice, conversation_id=conversation.pk, body="hi", client_id=client_id())
    assert Message.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "cid", "field"),
    [
        ("", "c1", "body"),
        ("   \n\t", "c1", "body"),
        ("x" * 4001, "c1", "body"),
        ("bad\x00", "c1", "body"),
        ("lone \ud800", "c1", "body"),
        (None, "c1", "body"),
        (42, "c1", "body"),
        ("hi", "", "client_id"),
        ("hi", "c" * 65, "client_id"),
        ("hi", "tab\there", "client_id"),
        ("hi", None, "client_id"),
    ],
)
def test_send_rejects_bad_input_with_the_field_named(body, cid, field):
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    with pytest.raises(ValidationError) as caught:
        message_send(sender=alice, conversation_id=conversation.pk, body=body, client_id=cid)
    assert field in caught.value.detail
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_send_accepts_a_body_of_exactly_four_thousand_characters():
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    message, created = message_send(sender=alice, conversation_id=conversation.pk, body="é" * 4000, client_id="c" * 64)
    assert created
    assert Message.objects.get(pk=message.pk).body == "é" * 4000


@pytest.mark.django_db
def test_the_stored_body_column_holds_no_plaintext():
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    message, _ = message_send(sender=alice, conversation_id=conversation.pk, body="meet at the pier", client_id="x1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM chat_message WHERE id = %s", [message.pk])
        (raw,) = cursor.fetchone()
    assert "pier" not in raw
    assert raw.startswith("fernet:")


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_send_make_one_message():
    # given
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    cid = client_id()
    barrier = threading.Barrier(4)
    results = []

    def send():
        try:
            barrier.wait()
            results.append(message_send(sender=alice, conversation_id=conversation.pk, body="race", client_id=cid))
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then
    assert len(results) == 4
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert len({m.pk for m, _ in results}) == 1
    assert Message.objects.count() == 1
    assert Event.objects.filter(user=bob).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_of_one_pair_make_one_conversation():
    alice, bob = UserFactory(), UserFactory()
    barrier = threading.Barrier(4)
    results = []

    def open_it(creator, other):
        try:
            barrier.wait()
            results.append(conversation_open(creator=creator, usernames=[other.username]))
        finally:
            connection.close()

    threads = [threading.Thread(target=open_it, args=pair) for pair in [(alice, bob), (bob, alice)] * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert len({c.pk for c, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Conversation.objects.count() == 1
    assert Participant.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_message_new_reaches_the_channel_layer_only_after_commit():
    # given: a listener in every participant's group on the real channel layer
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    layer = get_channel_layer()

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add(user_group(bob.pk), channel)
        try:
            message, _ = await sync_to_async(message_send)(
                sender=alice, conversation_id=conversation.pk, body="ding", client_id="c-1"
            )
            received = await asyncio.wait_for(layer.receive(channel), 5)
            return message, received
        finally:
            await layer.group_discard(user_group(bob.pk), channel)

    # when
    message, received = async_to_sync(scenario)()
    # then
    assert (received["type"], received["id"]) == ("event.push", 1)
    assert json.loads(received["text"]) == {
        "type": "event",
        "id": 1,
        "event": "message.new",
        "data": {
            "id": message.pk,
            "conversation": conversation.pk,
            "sender": user_brief(alice),
            "body": "ding",
            "client_id": "c-1",
            "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
            "deleted": False,
        },
    }


@pytest.mark.django_db
def test_a_rolled_back_send_publishes_nothing(django_capture_on_commit_callbacks):
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    Block.objects.create(blocker=bob, blocked=alice)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(PermissionDenied):
        message_send(sender=alice, conversation_id=conversation.pk, body="hi", client_id="c1")
    assert callbacks == []
    assert Event.objects.count() == 0


# conversation_mark_read


@pytest.mark.django_db
def test_mark_read_moves_forward_tells_everyone_and_a_repeat_is_a_no_op():
    # given
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    first, _ = message_send(sender=alice, conversation_id=conversation.pk, body="1", client_id="c1")
    second, _ = message_send(sender=alice, conversation_id=conversation.pk, body="2", client_id="c2")
    # when
    participant = conversation_mark_read(user=bob, conversation_id=conversation.pk, message_id=second.pk)
    repeat = conversation_mark_read(user=bob, conversation_id=conversation.pk, message_id=second.pk)
    backwards = conversation_mark_read(user=bob, conversation_id=conversation.pk, message_id=first.pk)
    # then
    assert participant.last_read_message_id == second.pk
    assert repeat.last_read_message_id == second.pk
    assert backwards.last_read_message_id == second.pk
    expected = {"conversation": conversation.pk, "user": user_brief(bob), "message_id": second.pk}
    for person in (alice, bob):
        reads = [data for kind, data in kinds_for(person) if kind == "message.read"]
        assert reads == [expected]


@pytest.mark.django_db
def test_mark_read_of_a_message_from_another_conversation_is_refused():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    mine, elsewhere = direct(alice, bob), direct(bob, carol)
    foreign, _ = message_send(sender=carol, conversation_id=elsewhere.pk, body="x", client_id="c1")
    with pytest.raises(ValidationError) as caught:
        conversation_mark_read(user=alice, conversation_id=mine.pk, message_id=foreign.pk)
    assert "message_id" in caught.value.detail
    with pytest.raises(NotFound):
        conversation_mark_read(user=alice, conversation_id=elsewhere.pk, message_id=foreign.pk)
    assert Participant.objects.get(conversation=mine, user=alice).last_read_message_id == 0


@pytest.mark.django_db
@pytest.mark.parametrize("message_id", [0, -3, 2**64, "5", None, True])
def test_mark_read_rejects_bad_message_ids(message_id):
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    with pytest.raises(ValidationError):
        conversation_mark_read(user=alice, conversation_id=conversation.pk, message_id=message_id)


# selectors


@pytest.mark.django_db
def test_unread_counts_others_messages_after_my_read_position():
    # given
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    with_bob = direct(alice, bob)
    with_carol = direct(alice, carol)
    b1, _ = message_send(sender=bob, conversation_id=with_bob.pk, body="1", client_id="b1")
    message_send(sender=bob, conversation_id=with_bob.pk, body="2", client_id="b2")
    message_send(sender=bob, conversation_id=with_bob.pk, body="3", client_id="b3")
    message_send(sender=carol, conversation_id=with_carol.pk, body="1", client_id="c1")
    message_send(sender=alice, conversation_id=with_carol.pk, body="mine", client_id="a1")
    # when
    conversation_mark_read(user=alice, conversation_id=with_bob.pk, message_id=b1.pk)
    listed = {c.pk: c.unread_count for c in selectors.conversation_list_for_user(user=alice)}
    for_bob = {c.pk: c.unread_count for c in selectors.conversation_list_for_user(user=bob)}
    # then: replying reads everything before the reply
    assert listed == {with_bob.pk: 2, with_carol.pk: 0}
    assert for_bob == {with_bob.pk: 0}


@pytest.mark.django_db
def test_conversation_list_is_newest_activity_first_and_only_mine():
    alice, bob, carol, dave = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    old, new = direct(alice, bob), direct(alice, carol)
    direct(bob, dave)
    message_send(sender=bob, conversation_id=old.pk, body="later", client_id="x")
    assert [c.pk for c in selectors.conversation_list_for_user(user=alice)] == [old.pk, new.pk]


@pytest.mark.django_db
def test_message_page_is_newest_first_and_only_for_participants():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    ids = [
        message_send(sender=alice, conversation_id=conversation.pk, body=str(i), client_id=f"c{i}")[0].pk
        for i in range(3)
    ]
    assert [m.pk for m in selectors.message_page(user=bob, conversation_id=conversation.pk)] == ids[::-1]
    with pytest.raises(NotFound):
        selectors.message_page(user=carol, conversation_id=conversation.pk)
