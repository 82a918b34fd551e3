"""Real daphne processes sharing PostgreSQL and Redis: cross-node delivery, a client whose
node is killed reconnecting to another node and resuming without loss or duplicates, and a
socket idle for over a minute still reached through the channel layer."""

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as sync_connect

from tests.servers import Database, Node, server_env

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
from instaclone_client import InstacloneClient  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")


IDLE_SECONDS = 65


@pytest.fixture(scope="module")
def cluster():
    """A migrated database of its own and two nodes on it and on one Redis; plus a third,
    quiet node whose sockets never look at the log on their own (so what reaches them came
    through the channel layer), with one socket opened at once and left idle while the
    other tests run."""
    database = Database(prefix="instaclone_e2e_gw").migrate(server_env())
    env = server_env(DATABASE_URL=database.url, REDIS_URL=REDIS_URL, CHANNEL_PREFIX=f"e2e-{uuid.uuid4().hex[:8]}")
    nodes = []
    stack = contextlib.ExitStack()
    try:
        nodes = [Node(env), Node(env), Node({**env, "WS_LOG_CHECK_SECONDS": "3600"})]
        for node in nodes:
            node.start()
        idle_user = register(nodes[0])
        idle = stack.enter_context(
            sync_connect(nodes[2].ws, additional_headers={"Authorization": f"Token {idle_user['token']}"})
        )
        assert json.loads(idle.recv(timeout=5))["type"] == "hello"
        yield env, nodes[:2], {"user": idle_user, "socket": idle, "opened": time.monotonic()}
    finally:
        stack.close()
        for node in nodes:
            node.kill()
        database.drop()


def register(node: Node) -> dict:
    name = f"u{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=node.http, timeout=10) as http:
        response = http.post(
            "/api/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-battery-9"},
        )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"token": body["token"], "username": body["user"]["username"], "id": body["user"]["id"]}


def open_conversation(node: Node, creator: dict, other: dict) -> int:
    """A 1:1 the other accepted (a stranger's is a request: no read receipts until then)."""
    with httpx.Client(base_url=node.http, timeout=10) as http:
        response = http.post(
            "/api/conversations",
            json={"usernames": [other["username"]]},
            headers={"Authorization": f"Token {creator['token']}"},
        )
        assert response.status_code in (200, 201), response.text
        cid = response.json()["id"]
        accepted = http.post(f"/api/conversations/{cid}/accept", headers={"Authorization": f"Token {other['token']}"})
        assert accepted.status_code == 200, accepted.text
    return cid


async def rest_send(node: Node, sender: dict, conversation: int, body: str) -> dict:
    async with httpx.AsyncClient(base_url=node.http, timeout=10) as http:
        response = await http.post(
            f"/api/conversations/{conversation}/messages",
            json={"body": body, "client_id": str(uuid.uuid4())},
            headers={"Authorization": f"Token {sender['token']}"},
        )
    assert response.status_code == 201, response.text
    return response.json()


async def test_dm_sent_on_one_node_reaches_a_client_on_the_other(cluster):
    # given: alice on node A, bob on node B
    _env, (node_a, node_b), _idle = cluster
    alice, bob = register(node_a), register(node_b)
    conversation = open_conversation(node_a, alice, bob)
    alice_client = InstacloneClient(node_a.ws, token=alice["token"])
    bob_client = InstacloneClient(node_b.ws, token=bob["token"])
    await alice_client.start()
    await bob_client.start()
    try:
        # when: alice sends over her socket on A
        ack = await alice_client.send_message(conversation, "across the nodes")
        # then: bob's socket on B gets it, and alice's own socket too
        (event,) = await bob_client.collect_events(1)
        assert event["event"] == "message.new" and event["data"] == ack
        assert (await alice_client.next_event())["data"] == ack
        # and bob's read reaches alice across the nodes
        await bob_client.mark_read(conversation, ack["id"])
        read = await alice_client.next_event()
        assert read["event"] == "message.read" and read["data"]["message_id"] == ack["id"]
    finally:
        await alice_client.close()
        await bob_client.close()


async def test_client_of_a_killed_node_resumes_on_another_and_misses_nothing(cluster):
    # given: a third node, and bob's client on it (with node B as its fallback)
    env, (_node_a, node_b), _idle = cluster
    victim = Node(env).start()
    alice, bob = register(node_b), register(node_b)
    conversation = open_conversation(node_b, alice, bob)
    bob_client = InstacloneClient([victim.ws, node_b.ws], token=bob["token"], backoff_base=0.05, backoff_cap=0.5)
    try:
        await bob_client.start()
        assert bob_client.connected_url == victim.ws
        first = await rest_send(node_b, alice, conversation, "before the crash")
        assert (await bob_client.next_event())["data"]["id"] == first["id"]
        # when: the node dies, and alice sends five more through node B meanwhile
        victim.kill()
        sent = [await rest_send(node_b, alice, conversation, f"after the crash {i}") for i in range(5)]
        # then: bob's client reconnects to B, resumes, and gets the five once, in order
        got = await bob_client.collect_events(5, wait=20)
        assert [e["data"]["id"] for e in got] == [m["id"] for m in sent]
        assert [e["id"] for e in got] == list(range(got[0]["id"], got[0]["id"] + 5))
        assert bob_client.connected_url == node_b.ws and bob_client.connections == 2
        # and nothing more arrives (no duplicate from the replay/live overlap)
        await asyncio.sleep(0.5)
        assert bob_client.events.empty()
        # and the new socket is live: one more message arrives as usual
        last = await rest_send(node_b, alice, conversation, "live again")
        assert (await bob_client.next_event())["data"]["id"] == last["id"]
    finally:
        await bob_client.close()
        victim.kill()


async def test_real_socket_origin_rule_and_frame_limit(cluster):
    _env, (node_a, _node_b), _idle = cluster
    user = register(node_a)
    headers = {"Authorization": f"Token {user['token']}"}
    # a page from another origin is refused at the handshake, token or not
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(node_a.ws, additional_headers=headers, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    # no credentials: accepted, then closed with 4401
    async with websockets.connect(node_a.ws) as ws:
        await ws.wait_closed()
        assert ws.close_code == 4401
    # a frame over 64 KiB closes with 1009 after the bad frame's neighbours were answered
    async with websockets.connect(node_a.ws, additional_headers=headers, max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send("not json")
        assert json.loads(await ws.recv())["code"] == "bad_frame"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}
        await ws.send(json.dumps({"type": "ping", "pad": "x" * 70000}))
        await ws.wait_closed()
        assert ws.close_code == 1009
    # a frame over daphne's own 1 MiB limit (autobahn refuses it before the app sees it)
    # closes with 1009 too, not a dropped connection
    for size in (1024 * 1024 + 1, 3 * 1024 * 1024):
        async with websockets.connect(node_a.ws, additional_headers=headers, max_size=None) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            await ws.send("x" * size)
            await ws.wait_closed()
            assert ws.close_code == 1009, (size, ws.close_code, ws.close_reason)


async def test_socket_idle_for_over_a_minute_still_gets_events_through_the_layer(cluster):
    """redis-py 8's default 5 s socket timeout and pool cap broke idle channel-layer readers
    (channels_redis#422); the layer's settings are explicit, and this socket, opened when the
    module started and silent since, must hear the next event through Redis (its node's log
    check is an hour away)."""
    # given: the idle socket has been quiet for over a minute
    _env, (node_a, _node_b), idle = cluster
    await asyncio.sleep(max(0.0, IDLE_SECONDS - (time.monotonic() - idle["opened"])))
    sender = register(node_a)
    conversation = open_conversation(node_a, sender, idle["user"])
    # when: someone on another node messages its user
    sent = await rest_send(node_a, sender, conversation, "still there?")
    # then: it arrives at once
    started = time.monotonic()
    frame = json.loads(await asyncio.to_thread(idle["socket"].recv, 5))
    while frame["type"] != "event":
        frame = json.loads(await asyncio.to_thread(idle["socket"].recv, 5))
    assert frame["event"] == "message.new" and frame["data"]["id"] == sent["id"]
    assert time.monotonic() - started < 5
