"""DESIGN 6.5 from the outside: httpx and websockets against two real daphne nodes sharing
PostgreSQL and Redis. Reactions cross nodes exactly once; a resume replays edits, unsends
and reactions in order, never the text of an unsent message; requests, read positions,
groups and blocks inside groups behave as the contract says."""

import asyncio
import contextlib
import io
import json
import os
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from PIL import Image

from tests.servers import Database, Node, server_env

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
from instaclone_client import InstacloneClient, ServerError  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")


@pytest.fixture(scope="module")
def cluster():
    database = Database(prefix="instaclone_e2e_dm").migrate(server_env())
    env = server_env(DATABASE_URL=database.url, REDIS_URL=REDIS_URL, CHANNEL_PREFIX=f"e2e-{uuid.uuid4().hex[:8]}")
    nodes = []
    try:
        nodes = [Node(env), Node(env)]
        for node in nodes:
            node.start()
        yield database, nodes
    finally:
        for node in nodes:
            node.kill()
        database.drop()


class Person:
    def __init__(self, node: Node):
        name = f"u{uuid.uuid4().hex[:10]}"
        self.http = httpx.Client(base_url=node.http, timeout=10)
        response = self.http.post(
            "/api/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-battery-9"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        self.token, self.username, self.id = body["token"], body["user"]["username"], body["user"]["id"]
        self.http.headers["Authorization"] = f"Token {self.token}"
        self.http.cookies.clear()

    def call(self, method: str, path: str, expect: int = 200, **kwargs) -> dict | None:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def send(self, conversation: int, body: str, **extra) -> dict:
        payload = {"body": body, "client_id": str(uuid.uuid4()), **extra}
        return self.call("POST", f"/api/conversations/{conversation}/messages", 201, json=payload)

    def client(self, node: Node, **kwargs) -> InstacloneClient:
        return InstacloneClient(node.ws, token=self.token, **kwargs)


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def friends(a: Person, b: Person) -> int:
    """A 1:1 from a to b that b accepted (b follows a)."""
    b.call("POST", f"/api/users/{a.username}/follow", 201)
    return a.call("POST", "/api/conversations", 201, json={"usernames": [b.username]})["id"]


@contextlib.asynccontextmanager
async def clients(*pairs):
    started = []
    try:
        for person, node in pairs:
            client = person.client(node)
            await client.start()
            started.append(client)
        yield started
    finally:
        for client in started:
            await client.close()


async def nothing_more(client: InstacloneClient, within: float = 0.5) -> bool:
    await asyncio.sleep(within)
    return client.events.empty()


async def test_a_reaction_on_one_node_reaches_a_tab_on_the_other_exactly_once(cluster):
    _db, (node_a, node_b) = cluster
    alice, bob = Person(node_a), Person(node_b)
    conversation = friends(alice, bob)
    message = alice.send(conversation, "react to me")
    async with clients((alice, node_a), (bob, node_b)) as (alice_tab, bob_tab):
        # when: bob reacts over his socket on B
        ack = await bob_tab.react(message["id"], "❤️")
        expected = {"conversation": conversation, "message": message["id"], "user": bob.id, "emoji": "❤️"}
        assert ack == expected
        # then: alice's tab on A gets it once, bob's own tab too
        (event,) = await alice_tab.collect_events(1)
        assert event["event"] == "message.reaction" and event["data"] == expected
        assert (await bob_tab.next_event())["data"] == expected
        assert await nothing_more(alice_tab) and bob_tab.events.empty()
        # and over REST from A, the removal reaches bob on B
        alice.call("POST", f"/api/messages/{message['id']}/reactions", json={"emoji": "👍"})
        bob.call("DELETE", f"/api/messages/{message['id']}/reactions")
        got = await alice_tab.collect_events(2)
        assert [(e["data"]["user"], e["data"]["emoji"]) for e in got] == [(alice.id, "👍"), (bob.id, None)]
        page = alice.call("GET", f"/api/conversations/{conversation}/messages")["results"]
        assert page[0]["reactions"] == [{"emoji": "👍", "users": [alice.id]}]


async def test_a_resume_replays_edits_unsends_and_reactions_in_order_without_unsent_text(cluster):
    _db, (node_a, node_b) = cluster
    alice, bob = Person(node_a), Person(node_b)
    conversation = friends(alice, bob)
    async with clients((bob, node_b)) as (bob_tab,):
        start = bob_tab.last_event_id
    # while bob is away: a send, an edit, a reaction, a reply, an unsend
    first = alice.send(conversation, "secret first draft")
    alice.call("PATCH", f"/api/messages/{first['id']}", json={"body": "secret second draft"})
    alice.call("POST", f"/api/messages/{first['id']}/reactions", json={"emoji": "😮"})
    kept = alice.send(conversation, "this one stays", reply_to=first["id"])
    alice.call("DELETE", f"/api/messages/{first['id']}", expect=204)
    # when: bob resumes on the other node
    resumed = InstacloneClient(node_a.ws, token=bob.token)
    resumed.last_event_id = start
    await resumed.start()
    try:
        got = await resumed.collect_events(5)
        assert await nothing_more(resumed)
    finally:
        await resumed.close()
    # then: every event once, in order, and the unsent text nowhere
    assert [e["event"] for e in got] == [
        "message.new",
        "message.update",
        "message.reaction",
        "message.new",
        "message.delete",
    ]
    assert [e["id"] for e in got] == list(range(start + 1, start + 6))
    assert "secret" not in json.dumps(got)
    assert got[0]["data"]["deleted"] is True and got[1]["data"]["deleted"] is True
    assert got[3]["data"]["reply_to"] == first["id"] and got[3]["data"]["body"] == "this one stays"
    assert got[4]["data"] == {"conversation": conversation, "id": first["id"]}
    page = bob.call("GET", f"/api/conversations/{conversation}/messages")["results"]
    assert [m["id"] for m in page] == [kept["id"], first["id"]]
    assert page[1]["deleted"] is True and page[1]["body"] == "" and page[1]["reactions"] == []


async def test_edit_and_unsend_reach_every_tab_live(cluster):
    _db, (node_a, node_b) = cluster
    alice, bob = Person(node_a), Person(node_b)
    conversation = friends(alice, bob)
    async with clients((alice, node_a), (bob, node_b), (bob, node_a)) as (alice_tab, bob_b, bob_a):
        ack = await alice_tab.send_message(conversation, "typo here")
        for tab in (alice_tab, bob_b, bob_a):
            assert (await tab.next_event())["data"]["id"] == ack["id"]
        alice.call("PATCH", f"/api/messages/{ack['id']}", json={"body": "no typo"})
        alice.call("DELETE", f"/api/messages/{ack['id']}", expect=204)
        for tab in (alice_tab, bob_b, bob_a):
            update, delete = await tab.collect_events(2)
            assert update["event"] == "message.update" and update["data"]["body"] == "no typo"
            assert delete["event"] == "message.delete" and delete["data"]["id"] == ack["id"]
        edit_late = bob.http.patch(f"/api/messages/{ack['id']}", json={"body": "x"})
        assert edit_late.status_code == 404


def test_photos_requests_read_positions_and_mute_over_rest(cluster):
    _db, (node_a, node_b) = cluster
    stranger, me = Person(node_a), Person(node_b)
    opened = stranger.call("POST", "/api/conversations", 201, json={"usernames": [me.username]})
    sent = stranger.call(
        "POST",
        f"/api/conversations/{opened['id']}/messages",
        201,
        data={"client_id": str(uuid.uuid4()), "body": "a view"},
        files={"image": ("view.png", photo(), "image/png")},
    )
    assert sent["kind"] == "image" and sent["image_url"] and sent["thumbnail_url"]
    assert stranger.http.get(sent["thumbnail_url"]).status_code == 200
    # the request lands under requests, nowhere else
    assert me.call("GET", "/api/conversations")["results"] == []
    (request,) = me.call("GET", "/api/conversations", params={"box": "requests"})["results"]
    assert request["status"] == "request" and request["last_message"]["id"] == sent["id"]
    # reading it tells the stranger nothing; accepting moves it and shows the read position
    me.call("POST", f"/api/conversations/{opened['id']}/read", json={"message_id": sent["id"]})
    assert stranger.call("GET", "/api/conversations")["results"][0]["read_positions"] == {}
    accepted = me.call("POST", f"/api/conversations/{opened['id']}/accept")
    assert accepted["status"] == "accepted"
    assert stranger.call("GET", "/api/conversations")["results"][0]["read_positions"] == {str(me.id): sent["id"]}
    assert me.call("POST", f"/api/conversations/{opened['id']}/mute")["muted"] is True
    assert me.call("GET", "/api/conversations")["results"][0]["muted"] is True
    # unsending the photo takes it out of the media store
    stranger.call("DELETE", f"/api/messages/{sent['id']}", expect=204)
    assert stranger.http.get(sent["thumbnail_url"]).status_code == 404


async def test_group_membership_changes_are_durable_and_a_leaver_hears_nothing_more(cluster):
    _db, (node_a, node_b) = cluster
    alice, bob, carol, dave = Person(node_a), Person(node_b), Person(node_a), Person(node_b)
    group = alice.call("POST", "/api/conversations", 201, json={"usernames": [bob.username, carol.username]})
    base = f"/api/conversations/{group['id']}"
    async with clients((bob, node_b), (carol, node_a), (dave, node_b)) as (bob_tab, carol_tab, dave_tab):
        alice.call("PATCH", base, json={"title": "Trip"})
        alice.call("POST", f"{base}/participants", json={"usernames": [dave.username]})
        for tab in (bob_tab, carol_tab):
            title, added = await tab.collect_events(2)
            assert title["event"] == "conversation.update" and title["data"]["title"] == "Trip"
            assert dave.id in {u["id"] for u in added["data"]["participants"]}
        assert (await dave_tab.next_event())["event"] == "conversation.update"
        carol.call("DELETE", f"{base}/participants/{carol.username}", expect=204)
        left = await carol_tab.next_event()
        assert carol.id not in {u["id"] for u in left["data"]["participants"]}
        await bob_tab.next_event()
        await dave_tab.next_event()
        alice.send(group["id"], "after carol left")
        assert (await bob_tab.next_event())["event"] == "message.new"
        assert await nothing_more(carol_tab)
        with pytest.raises(ServerError):
            await carol_tab.send_message(group["id"], "let me back", wait=5)


async def test_a_block_stops_group_messages_both_ways_over_rest_and_socket(cluster):
    database, (node_a, node_b) = cluster
    alice, bob, carol = Person(node_a), Person(node_b), Person(node_a)
    group = carol.call("POST", "/api/conversations", 201, json={"usernames": [alice.username, bob.username]})
    with psycopg.connect(database.url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO accounts_block (blocker_id, blocked_id, created_at) VALUES (%s, %s, now())",
            (alice.id, bob.id),
        )
    async with clients((alice, node_a), (bob, node_b), (carol, node_a)) as (alice_tab, bob_tab, carol_tab):
        by_socket = await bob_tab.send_message(group["id"], "bob over the socket")
        by_rest = bob.send(group["id"], "bob over rest")
        from_alice = await alice_tab.send_message(group["id"], "alice to the group")
        got = await carol_tab.collect_events(3)
        assert [e["data"]["id"] for e in got] == [by_socket["id"], by_rest["id"], from_alice["id"]]
        assert [e["data"]["id"] for e in await alice_tab.collect_events(1)] == [from_alice["id"]]
        assert [e["data"]["id"] for e in await bob_tab.collect_events(2)] == [by_socket["id"], by_rest["id"]]
        assert await nothing_more(alice_tab) and bob_tab.events.empty()
    # and nobody opens a new group with both
    again = carol.http.post("/api/conversations", json={"usernames": [alice.username, bob.username]})
    assert again.status_code == 403
