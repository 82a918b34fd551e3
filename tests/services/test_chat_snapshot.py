"""Subscribe before snapshot: a client learns `last_event_id` (the socket's hello), then
fetches its state over REST, then applies the durable events after that id. Whatever
happened in between, the result equals the state fetched afresh."""

import copy

import pytest

from accounts.models import Follow
from notifications.services import notification_create
from realtime import events
from tests.factories import UserFactory


def fetch_all(client, url: str) -> list[dict]:
    items, next_url = [], f"{url}?limit=7"
    while next_url:
        page = client.get(next_url)
        assert page.status_code == 200, page.content
        body = page.json()
        items += body["results"]
        next_url = body["next"]
    return items


def snapshot(client) -> dict:
    """Everything a client shows: conversations (with their messages) and notifications."""
    conversations = fetch_all(client, "/api/conversations")
    return {
        "order": [c["id"] for c in conversations],
        "conversations": {
            c["id"]: {
                "participants": c["participants"],
                "last_message": c["last_message"],
                "unread_count": c["unread_count"],
                "messages": {m["id"]: m for m in fetch_all(client, f"/api/conversations/{c['id']}/messages")},
                "read_position": None,  # unknown until a message.read of mine arrives
            }
            for c in conversations
        },
        "notifications": {n["id"]: n for n in fetch_all(client, "/api/notifications")},
    }


def _recount(conversation: dict, me: int) -> None:
    if conversation["read_position"] is not None:
        conversation["unread_count"] = sum(
            1
            for m in conversation["messages"].values()
            if m["sender"]["id"] != me and m["id"] > conversation["read_position"]
        )


def apply_events(state: dict, frames: list[dict], me: int) -> dict:
    """The client's reducer. Events already reflected in the snapshot change nothing."""
    state = copy.deepcopy(state)
    for frame in frames:
        kind, data = frame["event"], frame["data"]
        if kind == "message.new":
            conversation = state["conversations"][data["conversation"]]
            if data["id"] in conversation["messages"]:
                continue
            conversation["messages"][data["id"]] = data
            if conversation["last_message"] is None or data["id"] > conversation["last_message"]["id"]:
                conversation["last_message"] = data
            if data["sender"]["id"] == me:
                # Sending moves my read position to my message.
                conversation["read_position"] = max(conversation["read_position"] or 0, data["id"])
            elif conversation["read_position"] is None:
                conversation["unread_count"] += 1
            _recount(conversation, me)
        elif kind == "message.read":
            conversation = state["conversations"][data["conversation"]]
            if data["user"]["id"] == me:
                conversation["read_position"] = max(conversation["read_position"] or 0, data["message_id"])
                _recount(conversation, me)
        elif kind == "notification.new":
            state["notifications"].setdefault(data["id"], data)
        else:
            raise AssertionError(f"unexpected durable event {kind}")
    state["order"] = sorted(
        state["order"],
        key=lambda cid: ((state["conversations"][cid]["last_message"] or {}).get("created_at", ""), cid),
        reverse=True,
    )
    return state


def comparable(state: dict) -> dict:
    """Drops what only the reducer tracks."""
    out = copy.deepcopy(state)
    for conversation in out["conversations"].values():
        conversation.pop("read_position")
    return out


def send(client, conversation_id: int, body: str, cid: str) -> dict:
    response = client.post(
        f"/api/conversations/{conversation_id}/messages", {"body": body, "client_id": cid}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def read(client, conversation_id: int, message_id: int) -> None:
    response = client.post(f"/api/conversations/{conversation_id}/read", {"message_id": message_id}, format="json")
    assert response.status_code == 200, response.content


def follow(follower, followee) -> None:
    Follow.objects.create(follower=follower, followee=followee)
    notification_create(recipient=followee, actor=follower, verb="follow")


@pytest.mark.django_db
def test_state_fetched_plus_the_events_after_hello_equals_the_state_fetched_afresh(client_for):
    # given: alice in a 1:1 with bob and a group with bob and carol, with history
    alice, bob, carol, dave = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    as_alice, as_bob, as_carol = client_for(alice), client_for(bob), client_for(carol)
    as_alice_tab2 = client_for(alice)
    direct = as_alice.post("/api/conversations", {"usernames": [bob.username]}, format="json").json()["id"]
    group = as_alice.post("/api/conversations", {"usernames": [bob.username, carol.username]}, format="json").json()[
        "id"
    ]
    send(as_bob, direct, "hi alice", "b1")
    send(as_alice, direct, "hi bob", "a1")
    send(as_carol, group, "hello group", "c1")
    follow(dave, alice)

    # when: the socket says hello ...
    hello = events.last_event_id(user_id=alice.pk)
    # ... things happen before the REST snapshot is taken ...
    b2 = send(as_bob, direct, "are you there?", "b2")
    send(as_bob, direct, "hello?", "b3")
    read(as_alice_tab2, direct, b2["id"])
    send(as_carol, group, "ping", "c2")
    follow(carol, alice)
    before = snapshot(as_alice)
    # ... and after it
    b4 = send(as_bob, direct, "ok then", "b4")
    send(as_carol, group, "anyone?", "c3")
    send(as_alice_tab2, group, "me!", "a2")  # my other tab replies: the group is read
    c4 = send(as_carol, group, "great", "c4")
    read(as_bob, group, c4["id"])  # someone else's read changes nothing of mine
    read(as_alice_tab2, direct, b4["id"])
    send(as_bob, direct, "one more", "b5")
    follow(bob, alice)
    frames = events.replay(user_id=alice.pk, after=hello)

    # then
    assert [f["id"] for f in frames] == list(range(hello + 1, hello + 1 + len(frames)))
    reduced = apply_events(before, frames, me=alice.pk)
    fresh = snapshot(as_alice)
    assert comparable(reduced) == comparable(fresh)
    # and the scenario was not trivial
    assert fresh["conversations"][direct]["unread_count"] == 1
    assert fresh["conversations"][group]["unread_count"] == 1
    assert len(fresh["notifications"]) == 3
    assert comparable(before) != comparable(fresh)


@pytest.mark.django_db
def test_replaying_every_event_onto_an_empty_snapshot_rebuilds_the_counts(client_for):
    # given: a client that took its snapshot before anything existed but the conversations
    alice, bob = UserFactory(), UserFactory()
    as_alice, as_bob = client_for(alice), client_for(bob)
    direct = as_alice.post("/api/conversations", {"usernames": [bob.username]}, format="json").json()["id"]
    before = snapshot(as_alice)
    # when
    first = send(as_bob, direct, "1", "b1")
    send(as_bob, direct, "2", "b2")
    read(as_alice, direct, first["id"])
    send(as_bob, direct, "3", "b3")
    reduced = apply_events(before, events.replay(user_id=alice.pk, after=0), me=alice.pk)
    # then
    assert comparable(reduced) == comparable(snapshot(as_alice))
    assert reduced["conversations"][direct]["unread_count"] == 2
