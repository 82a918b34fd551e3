"""Gateway client frames: bad input, limits, typing, presence, feed relay."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import OperationalError

import accounts.auth
import chat.frames
import realtime.pg
from accounts.models import Block
from chat.models import Message
from realtime.publish import frame_message, user_group
from tests.ws_helpers import (  # noqa: F401 - the fixture is used by every test
    _close_worker_thread_connections,
    communicator,
    make_user,
    make_user_with_token,
    nothing_more,
    open_conversation,
    open_socket,
    receive_close,
    receive_json,
    receive_until,
    send,
    send_message,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def ping_still_answers(comm) -> None:
    await send(comm, {"type": "ping"})
    assert await receive_json(comm) == {"type": "pong"}


async def test_ping_gets_pong():
    _user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    await ping_still_answers(comm)
    await comm.disconnect()


async def test_each_bad_frame_gets_its_error_and_the_socket_stays_open():
    # given: alice, and a conversation between two other people
    alice, token = await make_user_with_token()
    bob, carol = await make_user(), await make_user()
    mine = await open_conversation(alice, bob)
    theirs = await open_conversation(bob, carol)
    comm, _ = await open_socket(token)
    cases = [
        ("not json {", None, "bad_frame"),
        ("[1, 2, 3]", None, "bad_frame"),
        ('"just a string"', None, "bad_frame"),
        ("[" * 20000 + "]" * 20000, None, "bad_frame"),
        (json.dumps({"no": "type"}), None, "unknown_type"),
        (json.dumps({"type": "dance", "ref": "a"}), "a", "unknown_type"),
        (json.dumps({"type": "message.send", "ref": "b", "conversation": mine, "client_id": "x"}), "b", "invalid"),
        (
            json.dumps({"type": "message.send", "ref": "c", "conversation": "7", "body": "hi", "client_id": "x"}),
            "c",
            "invalid",
        ),
        (json.dumps({"type": "message.send", "ref": "d", "conversation": mine, "body": "hi"}), "d", "invalid"),
        (
            json.dumps(
                {"type": "message.send", "ref": "e", "conversation": mine, "body": "x" * 4001, "client_id": "y"}
            ),
            "e",
            "invalid",
        ),
        (
            json.dumps({"type": "message.send", "ref": "f", "conversation": theirs, "body": "hi", "client_id": "z"}),
            "f",
            "not_found",
        ),
        (
            json.dumps({"type": "message.send", "ref": "g", "conversation": 10**30, "body": "hi", "client_id": "z"}),
            "g",
            "invalid",
        ),
        (
            json.dumps({"type": "message.send", "ref": "h", "conversation": mine, "body": "   ", "client_id": "w"}),
            "h",
            "invalid",
        ),
        (
            json.dumps(
                {"type": "message.send", "ref": "i", "conversation": mine, "body": "hi", "client_id": "a\u0000b"}
            ),
            "i",
            "invalid",
        ),
        (
            json.dumps({"type": "message.send", "ref": "j", "conversation": True, "body": "hi", "client_id": "q"}),
            "j",
            "invalid",
        ),
        (json.dumps({"type": "message.read", "ref": "k", "conversation": mine}), "k", "invalid"),
        (json.dumps({"type": "message.read", "ref": "l", "conversation": theirs, "message_id": 1}), "l", "not_found"),
        (json.dumps({"type": "message.read", "ref": "m", "conversation": mine, "message_id": 999999}), "m", "invalid"),
        (json.dumps({"type": "typing", "ref": "n", "conversation": theirs}), "n", "not_found"),
        (json.dumps({"type": "typing"}), None, "invalid"),
        (json.dumps({"type": "resume", "ref": "o", "after": -1}), "o", "invalid"),
        (json.dumps({"type": "resume", "ref": "p", "after": "12"}), "p", "invalid"),
        (json.dumps({"type": "ping", "ref": {"nested": 1}}), None, "invalid"),
        (json.dumps({"type": "ping", "ref": "r" * 101}), None, "invalid"),
    ]
    for text, ref, code in cases:
        # when
        await comm.send_to(text_data=text)
        # then
        frame = await receive_json(comm)
        assert frame["type"] == "error", (text[:80], frame)
        assert (frame["ref"], frame["code"]) == (ref, code), (text[:80], frame)
        assert isinstance(frame["detail"], str) and frame["detail"]
        await ping_still_answers(comm)
    # a binary frame too
    await comm.send_to(bytes_data=b"\x00\x01binary")
    frame = await receive_json(comm)
    assert (frame["type"], frame["ref"], frame["code"]) == ("error", None, "bad_frame")
    await ping_still_answers(comm)
    # and nothing reached the database
    assert await sync_to_async(Message.objects.count)() == 0
    await comm.disconnect()


async def test_frame_over_64_kib_closes_1009():
    _user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    await send(comm, {"type": "ping", "pad": "x" * (64 * 1024)})
    assert await receive_close(comm) == 1009


async def test_frame_just_under_64_kib_is_handled():
    _user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    frame = {"type": "ping", "pad": ""}
    frame["pad"] = "x" * (64 * 1024 - len(json.dumps(frame)) - 1)
    await send(comm, frame)
    assert await receive_json(comm) == {"type": "pong"}
    await comm.disconnect()


async def test_multibyte_frame_over_64_kib_in_bytes_closes_1009():
    _user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    await comm.send_to(text_data=json.dumps({"type": "ping", "pad": "é" * 40000}, ensure_ascii=False))
    assert await receive_close(comm) == 1009


async def test_binary_frame_over_64_kib_closes_1009():
    _user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    await comm.send_to(bytes_data=b"x" * (64 * 1024 + 1))
    assert await receive_close(comm) == 1009


async def test_burst_within_the_bucket_passes():
    _user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    for _ in range(250):
        await send(comm, {"type": "ping"})
    for _ in range(250):
        assert await receive_json(comm) == {"type": "pong"}
    await comm.disconnect()


async def test_flood_past_the_bucket_closes_4429(settings):
    settings.WS_RATE_BURST = 20
    settings.WS_RATE_PER_SECOND = 1
    _user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    for _ in range(40):
        await send(comm, {"type": "ping"})
    pongs = 0
    while True:
        output = await comm.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            assert output["code"] == 4429
            break
        pongs += 1
    assert pongs <= 21


async def test_typing_reaches_other_participants_only_and_is_not_echoed():
    # given: alice (two tabs) and bob in a conversation; carol is not in it
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    carol, carol_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    await open_conversation(alice, carol)
    alice_tab, _ = await open_socket(alice_token)
    alice_other_tab, _ = await open_socket(alice_token)
    bob_tab, _ = await open_socket(bob_token)
    carol_tab, _ = await open_socket(carol_token)
    # when
    await send(alice_tab, {"type": "typing", "conversation": conversation})
    # then
    frame = await receive_json(bob_tab)
    assert frame == {
        "type": "typing",
        "data": {
            "conversation": conversation,
            "user": {"id": alice.pk, "username": alice.username, "full_name": alice.full_name, "avatar_url": None},
        },
    }
    for comm in (alice_tab, alice_other_tab, carol_tab, bob_tab):
        assert await nothing_more(comm, within=0.2)
    for comm in (alice_tab, alice_other_tab, bob_tab, carol_tab):
        await comm.disconnect()


async def test_presence_goes_to_people_sharing_a_conversation_on_first_open_and_last_close():
    # given: alice and bob share a conversation with a message; dave shares none with alice
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    _dave, dave_token = await make_user_with_token()
    await send_message(bob, await open_conversation(alice, bob), "hi")
    bob_tab, _ = await open_socket(bob_token)
    dave_tab, _ = await open_socket(dave_token)
    # when: alice opens two tabs
    first, _ = await open_socket(alice_token)
    second, _ = await open_socket(alice_token)
    # then: bob hears once that she is online; dave hears nothing
    online = await receive_json(bob_tab, skip=())
    assert online["type"] == "presence"
    assert online["data"]["online"] is True and online["data"]["user"]["id"] == alice.pk
    assert await bob_tab.receive_nothing(timeout=0.2)
    # when: she closes one tab, nothing; the last one, offline
    await first.disconnect()
    assert await bob_tab.receive_nothing(timeout=0.2)
    await second.disconnect()
    offline = await receive_json(bob_tab, skip=())
    assert offline == {"type": "presence", "data": {"user": online["data"]["user"], "online": False}}
    assert await dave_tab.receive_nothing(timeout=0.1)
    await bob_tab.disconnect()
    await dave_tab.disconnect()


async def test_feed_post_from_the_user_group_is_relayed():
    user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    post = {"id": 5, "caption": "sunset"}
    await get_channel_layer().group_send(user_group(user.pk), frame_message({"type": "feed.post", "data": post}))
    assert await receive_json(comm) == {"type": "feed.post", "data": post}
    await comm.disconnect()


async def test_unknown_layer_message_is_ignored_and_does_not_kill_the_socket():
    user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    layer = get_channel_layer()
    await layer.group_send(user_group(user.pk), {"type": "close"})
    await layer.group_send(user_group(user.pk), {"type": "websocket.nonsense"})
    await ping_still_answers(comm)
    await comm.disconnect()


@pytest.mark.parametrize(
    ("failure", "code"),
    [(OperationalError("connection refused"), "unavailable"), (RuntimeError("a bug"), "server_error")],
    ids=["database-down", "unexpected"],
)
async def test_a_failing_send_gives_its_error_code_and_the_socket_lives(monkeypatch, failure, code):
    # given: message.send fails under the socket (the database away, or a bug)
    alice, token = await make_user_with_token()
    bob = await make_user()
    conversation = await open_conversation(alice, bob)
    comm, _ = await open_socket(token)

    async def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(realtime.pg, "fetch", fail)
    # when
    await send(
        comm, {"type": "message.send", "ref": "u1", "conversation": conversation, "body": "hi", "client_id": "c1"}
    )
    # then
    frame = await receive_json(comm)
    assert (frame["type"], frame["ref"], frame["code"]) == ("error", "u1", code)
    await ping_still_answers(comm)
    await comm.disconnect()


async def test_database_unavailable_at_handshake_closes_4503(monkeypatch):
    _user, token = await make_user_with_token()

    async def down(self, digests):
        raise OperationalError("connection refused")

    monkeypatch.setattr(accounts.auth.ApiTokenStore, "users_for_tokens", down)
    comm = communicator(token=token)
    connected, _ = await comm.connect()
    assert connected
    frame = await comm.receive_json_from()
    assert (frame["type"], frame["code"]) == ("error", "unavailable")
    assert await receive_close(comm) == 4503


async def test_typing_never_crosses_a_block_even_right_after_it(monkeypatch):
    # given: alice, bob and carol in a group; bob's typing reaches alice
    monkeypatch.setattr(chat.frames, "TYPING_INTERVAL_SECONDS", 0)
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    carol, carol_token = await make_user_with_token()
    group = await open_conversation(carol, alice, bob)
    alice_tab, _ = await open_socket(alice_token)
    bob_tab, _ = await open_socket(bob_token)
    carol_tab, _ = await open_socket(carol_token)
    await send(bob_tab, {"type": "typing", "conversation": group})
    assert (await receive_json(alice_tab))["data"]["user"]["id"] == bob.pk
    assert (await receive_json(carol_tab))["data"]["user"]["id"] == bob.pk
    # when: alice blocks bob, and both type at once
    await sync_to_async(Block.objects.create)(blocker=alice, blocked=bob)
    await send(bob_tab, {"type": "typing", "conversation": group})
    await send(alice_tab, {"type": "typing", "conversation": group})
    # then: carol hears both, neither hears the other
    heard = {(await receive_json(carol_tab))["data"]["user"]["id"] for _ in range(2)}
    assert heard == {alice.pk, bob.pk}
    assert await nothing_more(alice_tab, within=0.3)
    assert await nothing_more(bob_tab, within=0.1)
    for comm in (alice_tab, bob_tab, carol_tab):
        await comm.disconnect()


async def test_no_typing_either_way_in_a_message_request(monkeypatch):
    monkeypatch.setattr(chat.frames, "TYPING_INTERVAL_SECONDS", 0)
    stranger, stranger_token = await make_user_with_token()
    me, me_token = await make_user_with_token()
    request = await open_conversation(stranger, me, request=True)
    stranger_tab, _ = await open_socket(stranger_token)
    me_tab, _ = await open_socket(me_token)
    await send(stranger_tab, {"type": "typing", "conversation": request})
    await send(me_tab, {"type": "typing", "conversation": request})
    assert await nothing_more(me_tab, within=0.3)
    assert await nothing_more(stranger_tab, within=0.1)
    for comm in (stranger_tab, me_tab):
        await comm.disconnect()


async def test_a_reaction_frame_is_acked_and_reaches_the_other_tab():
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    message = await send_message(alice, conversation, "like me")
    alice_tab, _ = await open_socket(alice_token)
    bob_tab, _ = await open_socket(bob_token)
    await send(bob_tab, {"type": "message.react", "ref": "r1", "message": message.pk, "emoji": "❤️"})
    expected = {"conversation": conversation, "message": message.pk, "user": bob.pk, "emoji": "❤️"}
    frames = await receive_until(bob_tab, lambda f: f["type"] == "ack")
    assert frames[-1] == {"type": "ack", "ref": "r1", "data": expected}
    event = await receive_json(alice_tab)
    assert event["event"] == "message.reaction" and event["data"] == expected
    await send(bob_tab, {"type": "message.react", "ref": "r2", "message": message.pk, "emoji": None})
    event = await receive_json(alice_tab)
    assert event["data"]["emoji"] is None
    await send(bob_tab, {"type": "message.react", "ref": "r3", "message": message.pk, "emoji": "two words"})
    error = await receive_until(bob_tab, lambda f: f["type"] == "error")
    assert error[-1]["ref"] == "r3"
    for comm in (alice_tab, bob_tab):
        await comm.disconnect()
