"""Durable delivery over the gateway: every tab, exactly once, in order, across reconnects."""

import asyncio
import random
import time
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from realtime import events, hub
from realtime.models import Event
from realtime.publish import user_group
from tests.ws_helpers import (  # noqa: F401 - the fixture is used by every test
    _close_worker_thread_connections,
    append_event,
    last_event_id,
    make_user_with_token,
    nothing_more,
    open_conversation,
    open_socket,
    receive_events,
    receive_frames,
    receive_json,
    receive_until,
    send,
    send_message,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def rest_send(token: str, conversation: int, body: str, client_id: str | None = None):
    from rest_framework.test import APIClient

    @sync_to_async
    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client.post(
            f"/api/conversations/{conversation}/messages",
            {"body": body, "client_id": client_id or str(uuid.uuid4())},
            format="json",
        )

    response = await post()
    assert response.status_code in (200, 201), response.content
    return response.json()


async def test_message_reaches_every_tab_of_both_participants():
    # given: alice with two tabs, bob with one, in a conversation
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    alice_1, _ = await open_socket(alice_token)
    alice_2, _ = await open_socket(alice_token)
    bob_1, _ = await open_socket(bob_token)
    # when: bob sends over REST
    sent = await rest_send(bob_token, conversation, "hello there")
    # then: all three sockets get the same message.new
    for comm in (alice_1, alice_2, bob_1):
        (frame,) = await receive_events(comm, 1)
        assert frame["event"] == "message.new"
        assert frame["id"] == 1
        assert frame["data"] == sent
    for comm in (alice_1, alice_2, bob_1):
        assert await nothing_more(comm, within=0.1)
    for comm in (alice_1, alice_2, bob_1):
        await comm.disconnect()


async def test_socket_send_acks_the_sender_and_reaches_their_other_tab_and_the_peer():
    # given
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    sending_tab, _ = await open_socket(alice_token)
    other_tab, _ = await open_socket(alice_token)
    bob_tab, _ = await open_socket(bob_token)
    client_id = str(uuid.uuid4())
    # when
    await send(
        sending_tab,
        {"type": "message.send", "ref": "r1", "conversation": conversation, "body": "hi bob", "client_id": client_id},
    )
    # then: the sending tab gets the ack and the event
    frames = await receive_frames(sending_tab, 2)
    assert sorted(f["type"] for f in frames) == ["ack", "event"]
    ack = next(f for f in frames if f["type"] == "ack")
    event = next(f for f in frames if f["type"] == "event")
    assert ack["ref"] == "r1"
    assert ack["data"]["body"] == "hi bob" and ack["data"]["client_id"] == client_id
    assert ack["data"]["sender"]["id"] == alice.pk and ack["data"]["conversation"] == conversation
    assert event["event"] == "message.new" and event["data"] == ack["data"]
    # and the other tab and bob get only the event
    for comm in (other_tab, bob_tab):
        assert await receive_json(comm, within=3) == {**event, "id": 1}
    # when: a retry with the same client_id
    await send(
        sending_tab,
        {"type": "message.send", "ref": "r2", "conversation": conversation, "body": "hi bob", "client_id": client_id},
    )
    # then: acked with the original message, and no new event anywhere
    retry_ack = await receive_json(sending_tab, within=3)
    assert retry_ack == {"type": "ack", "ref": "r2", "data": ack["data"]}
    for comm in (sending_tab, other_tab, bob_tab):
        assert await nothing_more(comm, within=0.2)
    for comm in (sending_tab, other_tab, bob_tab):
        await comm.disconnect()


async def test_message_read_is_acked_and_tells_the_other_participant():
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    message = await send_message(alice, conversation, "read me")
    bob_tab, _ = await open_socket(bob_token)
    alice_tab, _ = await open_socket(alice_token)
    await send(bob_tab, {"type": "message.read", "ref": 7, "conversation": conversation, "message_id": message.pk})
    frames = await receive_until(bob_tab, lambda f: f["type"] == "ack")
    ack = frames[-1]
    assert ack["ref"] == 7
    assert ack["data"]["conversation"] == conversation and ack["data"]["message_id"] == message.pk
    (read,) = await receive_events(alice_tab, 1)
    assert read["event"] == "message.read"
    assert read["data"]["message_id"] == message.pk and read["data"]["user"]["id"] == bob.pk
    await bob_tab.disconnect()
    await alice_tab.disconnect()


async def test_resume_replays_messages_missed_while_away_once_and_in_order():
    # given: bob was connected and saw nothing yet, then went away
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    bob_tab, hello = await open_socket(bob_token)
    seen = hello["last_event_id"]
    await bob_tab.disconnect()
    # when: 5 messages are sent while he is away, and he comes back and resumes
    sent = [await send_message(alice, conversation, f"m{i}") for i in range(5)]
    bob_tab, hello = await open_socket(bob_token)
    assert hello["last_event_id"] == seen + 5
    await send(bob_tab, {"type": "resume", "after": seen})
    frames = await receive_until(bob_tab, lambda f: f["type"] == "resumed")
    # then
    events_ = [f for f in frames if f["type"] == "event"]
    assert [f["id"] for f in events_] == [seen + 1 + i for i in range(5)]
    assert [f["data"]["id"] for f in events_] == [m.pk for m in sent]
    assert frames[-1] == {"type": "resumed", "last_event_id": seen + 5}
    assert await nothing_more(bob_tab, within=0.2)
    await bob_tab.disconnect()


async def test_connecting_with_after_replays_before_any_live_event():
    user, token = await make_user_with_token()
    for i in range(3):
        await append_event(user.pk, {"n": i})
    comm, hello = await open_socket(token, query="after=1")
    assert hello["last_event_id"] == 3
    frames = await receive_until(comm, lambda f: f["type"] == "resumed")
    assert [f["id"] for f in frames if f["type"] == "event"] == [2, 3]
    assert frames[-1] == {"type": "resumed", "last_event_id": 3}
    await append_event(user.pk, {"n": 3})
    (live,) = await receive_events(comm, 1)
    assert live["id"] == 4
    await comm.disconnect()


async def test_replay_larger_than_a_batch_arrives_whole_in_order():
    user, token = await make_user_with_token()

    @sync_to_async
    def append_many(n):
        from django.db import transaction

        for i in range(n):
            with transaction.atomic():
                events.append(user_ids=[user.pk], kind="notification.new", data={"n": i})

    await append_many(1203)
    comm, _ = await open_socket(token, query="after=0")
    frames = await receive_until(comm, lambda f: f["type"] == "resumed", within=20)
    assert [f["id"] for f in frames if f["type"] == "event"] == list(range(1, 1204))
    await comm.disconnect()


async def test_burst_of_200_messages_arrives_all_in_order_with_increasing_ids():
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    alice_tab, _ = await open_socket(alice_token)
    bob_tab, _ = await open_socket(bob_token)
    # when: alice fires 200 sends without waiting for acks
    for i in range(200):
        await send(
            alice_tab,
            {
                "type": "message.send",
                "ref": f"r{i}",
                "conversation": conversation,
                "body": f"burst {i}",
                "client_id": f"burst-{i}",
            },
        )
    # then: bob gets 200 message.new, ids strictly increasing, bodies in send order
    got = await receive_events(bob_tab, 200, within=60)
    ids = [f["id"] for f in got]
    assert ids == sorted(set(ids)) and len(ids) == 200
    assert [f["data"]["body"] for f in got] == [f"burst {i}" for i in range(200)]
    # and alice gets 200 acks and 200 events
    frames = []
    while sum(1 for f in frames if f["type"] == "ack") < 200 or sum(1 for f in frames if f["type"] == "event") < 200:
        frames.append(await receive_json(alice_tab, within=10))
    assert [f["ref"] for f in frames if f["type"] == "ack"] == [f"r{i}" for i in range(200)]
    assert [f["id"] for f in frames if f["type"] == "event"] == list(range(1, 201))
    assert await nothing_more(bob_tab, within=0.2)
    await alice_tab.disconnect()
    await bob_tab.disconnect()


async def test_resume_from_before_retention_gets_resync_required():
    # given: events 1..3, of which 1 and 2 are pruned
    user, token = await make_user_with_token()
    for i in range(3):
        await append_event(user.pk, {"n": i})

    @sync_to_async
    def age_and_prune():
        Event.objects.filter(user_id=user.pk, seq__lte=2).update(created_at=timezone.now() - timedelta(days=400))
        return events.prune()

    assert await age_and_prune() == 2
    comm, hello = await open_socket(token)
    # when / then: resuming after 0 needs the pruned events
    await send(comm, {"type": "resume", "ref": "x", "after": 0})
    error = await receive_json(comm)
    assert error["type"] == "error" and error["code"] == "resync_required" and error["ref"] == "x"
    # and resuming after 2 is fine
    await send(comm, {"type": "resume", "after": 2})
    frames = await receive_until(comm, lambda f: f["type"] == "resumed")
    assert [f["id"] for f in frames if f["type"] == "event"] == [3]
    await comm.disconnect()


async def test_connect_with_after_before_retention_gets_resync_required_then_lives_on():
    user, token = await make_user_with_token()
    for i in range(2):
        await append_event(user.pk, {"n": i})
    await sync_to_async(Event.objects.filter(user_id=user.pk, seq=1).delete)()
    comm, hello = await open_socket(token, query="after=0")
    error = await receive_json(comm)
    assert error == {**error, "type": "error", "code": "resync_required", "ref": None}
    await append_event(user.pk, {"n": 2})
    (live,) = await receive_events(comm, 1)
    assert live["id"] == hello["last_event_id"] + 1
    await comm.disconnect()


async def test_resume_after_an_id_from_the_future_needs_resync():
    _user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    await send(comm, {"type": "resume", "after": 99})
    assert (await receive_json(comm))["code"] == "resync_required"
    await comm.disconnect()


async def test_lost_publish_is_filled_from_the_log_when_a_later_event_arrives():
    # given
    user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    # when: event 1's publish is lost, event 2's is not
    await append_event(user.pk, {"n": 1}, publish=False)
    assert await nothing_more(comm, within=0.2)
    await append_event(user.pk, {"n": 2})
    # then: both, in order, once
    got = await receive_events(comm, 2)
    assert [(f["id"], f["data"]) for f in got] == [(1, {"n": 1}), (2, {"n": 2})]
    assert await nothing_more(comm, within=0.3)
    await comm.disconnect()


async def test_periodic_check_finds_a_lost_publish_with_no_later_event(settings):
    settings.WS_LOG_CHECK_SECONDS = 0.2
    user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    await append_event(user.pk, {"n": 1}, publish=False)
    (frame,) = await receive_events(comm, 1, within=3)
    assert frame["id"] == 1
    assert await nothing_more(comm, within=0.5)
    await comm.disconnect()


async def test_after_channel_layer_trouble_a_quiet_socket_gets_a_lost_publish_within_seconds(settings, monkeypatch):
    # given: no periodic check for an hour, a socket open, and a publish lost with no later event
    settings.WS_LOG_CHECK_SECONDS = 3600
    monkeypatch.setattr(hub, "FIRST_CHECK_SECONDS", 3600)
    user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    await append_event(user.pk, {"n": 1}, publish=False)
    assert await nothing_more(comm, within=1.5)
    # when: the channel layer has trouble (a Redis outage, a failover, its connection back)
    monkeypatch.setattr(get_channel_layer(), "last_trouble", time.monotonic, raising=False)
    # then: the hub looks at the log on its next ticks, not in an hour
    (frame,) = await receive_events(comm, 1, within=5)
    assert frame["id"] == 1
    assert await nothing_more(comm, within=1.5)
    await comm.disconnect()


async def test_duplicate_and_stale_live_pushes_are_sent_once():
    user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    await append_event(user.pk, {"n": 1})
    (first,) = await receive_events(comm, 1)
    # when: the same push arrives again (a redelivery), and an old one too
    layer = get_channel_layer()
    await layer.group_send(user_group(user.pk), {"type": "event.push", "frame": first})
    await layer.group_send(user_group(user.pk), {"type": "event.push", "frame": {**first, "id": 0}})
    # then: nothing more is sent
    assert await nothing_more(comm, within=0.3)
    await comm.disconnect()


async def test_pushes_arriving_out_of_order_are_delivered_in_order_once():
    user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    # given: two events committed, their publishes lost
    await append_event(user.pk, {"n": 1}, publish=False)
    await append_event(user.pk, {"n": 2}, publish=False)
    # when: the publishes arrive late and reversed
    layer = get_channel_layer()
    frames = await sync_to_async(events.replay)(user_id=user.pk, after=0)
    await layer.group_send(user_group(user.pk), {"type": "event.push", "frame": frames[1]})
    await layer.group_send(user_group(user.pk), {"type": "event.push", "frame": frames[0]})
    # then
    got = await receive_events(comm, 2)
    assert [f["id"] for f in got] == [1, 2]
    assert await nothing_more(comm, within=0.3)
    await comm.disconnect()


@pytest.mark.fuzz
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_schedule_of_reconnects_and_sends_never_loses_or_duplicates(seed):
    """A seeded random interleaving of reconnects (resuming by `?after=` or by `resume`),
    REST sends, socket sends and lost publishes: bob's frames, across all his sockets in
    turn, hold every event id once, in order."""
    rng = random.Random(seed)
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    bob_tab, hello = await open_socket(bob_token)
    received: list[int] = []
    seen = hello["last_event_id"]

    async def drain(comm):
        nonlocal seen
        while not await comm.receive_nothing(timeout=0.05):
            frame = await comm.receive_json_from()
            if frame["type"] == "event":
                received.append(frame["id"])
                seen = frame["id"]

    for step in range(60):
        action = rng.choice(["rest", "rest", "socket", "socket", "lost", "reconnect", "reconnect_resume", "drain"])
        if action == "rest":
            await rest_send(alice_token, conversation, f"rest {step}")
        elif action == "socket":
            await send(
                bob_tab,
                {
                    "type": "message.send",
                    "ref": str(step),
                    "conversation": conversation,
                    "body": f"ws {step}",
                    "client_id": f"s{seed}-{step}",
                },
            )
        elif action == "lost":
            await append_event(bob.pk, {"step": step}, publish=False)
        elif action == "drain":
            await drain(bob_tab)
        else:
            if rng.random() < 0.5:
                await drain(bob_tab)
            await bob_tab.disconnect()
            if action == "reconnect":
                bob_tab, _ = await open_socket(bob_token, query=f"after={seen}")
            else:
                bob_tab, _ = await open_socket(bob_token)
                await send(bob_tab, {"type": "resume", "after": seen})
    # finally: the socket's own sends are done (handlers run in order, so a pong comes after
    # them), and one more event behind everything makes any remaining gap visible
    await send(bob_tab, {"type": "ping"})
    while True:
        frame = await bob_tab.receive_json_from(timeout=10)
        if frame["type"] == "event":
            received.append(frame["id"])
            seen = frame["id"]
        if frame["type"] == "pong":
            break
    await append_event(bob.pk, {"final": True})
    expected_last = await last_event_id(bob.pk)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while seen < expected_last and loop.time() < deadline:
        await drain(bob_tab)
    assert received == list(range(1, expected_last + 1))
    await bob_tab.disconnect()


async def test_embedded_mode_on_the_in_memory_layer_delivers_the_same(settings):
    """No Redis: one process, the in-memory layer; same frames, same guarantees."""
    # given
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert type(get_channel_layer()).__name__ == "InMemoryChannelLayer"
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    alice_tab, _ = await open_socket(alice_token)
    bob_tab, _ = await open_socket(bob_token)
    # when: a socket send, a REST send, and a lost publish
    await send(
        alice_tab,
        {"type": "message.send", "ref": "e1", "conversation": conversation, "body": "one", "client_id": "emb-1"},
    )
    await receive_until(alice_tab, lambda frame: frame["type"] == "ack")  # "one" is in before "two"
    await rest_send(bob_token, conversation, "two")
    await append_event(bob.pk, {"n": 3}, publish=False)
    await rest_send(alice_token, conversation, "four")
    # then: bob gets all four, in order, once
    got = await receive_events(bob_tab, 4)
    assert [f["id"] for f in got] == [1, 2, 3, 4]
    assert [f["data"].get("body") for f in got] == ["one", "two", None, "four"]
    assert await nothing_more(bob_tab, within=0.2)
    await alice_tab.disconnect()
    await bob_tab.disconnect()
