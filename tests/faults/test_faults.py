"""Outages of the real services, through a TCP proxy that cuts them off and brings them back."""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid

import httpx
import pytest
import websockets

from tests.servers import Database, Node, server_env
from tests.tcp_proxy import TcpProxy, free_port

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")


def register(http: httpx.Client, name: str) -> dict:
    response = http.post(
        "/api/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-battery-9"},
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def database():
    db = Database(prefix="instaclone_faults").migrate(server_env())
    yield db
    db.drop()


def test_database_outage_answers_503_unavailable_then_recovers(database):
    # given: a node whose PostgreSQL connection runs through a proxy we can cut
    proxy = TcpProxy("127.0.0.1", 5432).start()
    url = database.url.replace(":5432/", f":{proxy.port}/")
    node = Node(server_env(DATABASE_URL=url, REDIS_URL=REDIS_URL, DB_CONN_MAX_AGE="60")).start()
    try:
        with httpx.Client(base_url=node.http, timeout=10) as http:
            token = register(http, f"u{uuid.uuid4().hex[:8]}")["token"]
            headers = {"Authorization": f"Token {token}"}
            assert http.get("/api/me", headers=headers).status_code == 200

            # when: the database goes away
            proxy.stop()
            during = http.get("/api/me", headers=headers)
            health = http.get("/healthz")

            # then: 503 with code unavailable, and health names the database
            assert during.status_code == 503, during.text
            assert during.json()["code"] == "unavailable"
            assert health.status_code == 503
            assert health.json()["checks"]["database"] == "down"

            # and when it is back, so is the service
            proxy.start()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if http.get("/api/me", headers=headers).status_code == 200:
                    break
                time.sleep(0.3)
            else:
                pytest.fail("the node did not recover after the database came back")
    finally:
        node.stop()
        proxy.close()


def test_redis_outage_fails_no_write_and_the_log_delivers_later(database):
    # given: a node whose Redis runs through a proxy, and quiet sockets check the log every second
    host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
    proxy = TcpProxy(host, int(port)).start()
    redis_url = f"redis://127.0.0.1:{proxy.port}/0"
    node = Node(server_env(DATABASE_URL=database.url, REDIS_URL=redis_url, WS_LOG_CHECK_SECONDS="1")).start()
    try:
        with httpx.Client(base_url=node.http, timeout=10) as http:
            alice = register(http, f"a{uuid.uuid4().hex[:8]}")
            bob = register(http, f"b{uuid.uuid4().hex[:8]}")
            a_headers = {"Authorization": f"Token {alice['token']}"}
            conversation = http.post(
                "/api/conversations", json={"usernames": [bob["user"]["username"]]}, headers=a_headers
            ).json()

            async def scenario():
                async with websockets.connect(f"{node.ws}?token={bob['token']}") as socket:
                    hello = json.loads(await asyncio.wait_for(socket.recv(), 5))
                    assert hello["type"] == "hello"

                    # when: Redis goes away and alice writes over REST
                    proxy.stop()
                    sent = await asyncio.to_thread(
                        http.post,
                        f"/api/conversations/{conversation['id']}/messages",
                        json={"body": "through the outage", "client_id": str(uuid.uuid4())},
                        headers=a_headers,
                    )
                    # then: the write succeeds
                    assert sent.status_code == 201, sent.text

                    # and bob's open socket still gets it, from the log
                    deadline = time.monotonic() + 15
                    while time.monotonic() < deadline:
                        frame = json.loads(await asyncio.wait_for(socket.recv(), 15))
                        if frame.get("event") == "message.new":
                            assert frame["data"]["body"] == "through the outage"
                            assert frame["id"] == hello["last_event_id"] + 1
                            return
                    pytest.fail("the message never reached the socket")

            asyncio.run(scenario())
    finally:
        node.stop()
        proxy.close()


def test_edits_reactions_and_unsends_through_a_redis_outage_arrive_once_in_order(database):
    # given: as above, a node whose Redis runs through a proxy; bob's socket is open
    host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
    proxy = TcpProxy(host, int(port)).start()
    redis_url = f"redis://127.0.0.1:{proxy.port}/0"
    node = Node(server_env(DATABASE_URL=database.url, REDIS_URL=redis_url, WS_LOG_CHECK_SECONDS="1")).start()
    try:
        with httpx.Client(base_url=node.http, timeout=10) as http:
            alice = register(http, f"a{uuid.uuid4().hex[:8]}")
            bob = register(http, f"b{uuid.uuid4().hex[:8]}")
            a_headers = {"Authorization": f"Token {alice['token']}"}
            conversation = http.post(
                "/api/conversations", json={"usernames": [bob["user"]["username"]]}, headers=a_headers
            ).json()

            def writes() -> int:
                sent = http.post(
                    f"/api/conversations/{conversation['id']}/messages",
                    json={"body": "soon edited", "client_id": str(uuid.uuid4())},
                    headers=a_headers,
                )
                assert sent.status_code == 201, sent.text
                mid = sent.json()["id"]
                for method, path, body in (
                    ("PATCH", f"/api/messages/{mid}", {"body": "edited"}),
                    ("POST", f"/api/messages/{mid}/reactions", {"emoji": "👍"}),
                    ("DELETE", f"/api/messages/{mid}", None),
                ):
                    response = http.request(method, path, json=body, headers=a_headers)
                    assert response.status_code in (200, 204), response.text
                return mid

            async def scenario():
                async with websockets.connect(f"{node.ws}?token={bob['token']}") as socket:
                    hello = json.loads(await asyncio.wait_for(socket.recv(), 5))
                    # when: Redis goes away and alice sends, edits, reacts and unsends
                    proxy.stop()
                    mid = await asyncio.to_thread(writes)
                    # then: bob's socket gets the four from the log, in order, each once
                    got = []
                    deadline = time.monotonic() + 20
                    while len(got) < 4 and time.monotonic() < deadline:
                        frame = json.loads(await asyncio.wait_for(socket.recv(), 20))
                        if frame["type"] == "event":
                            got.append(frame)
                    assert [f["event"] for f in got] == [
                        "message.new",
                        "message.update",
                        "message.reaction",
                        "message.delete",
                    ]
                    assert [f["id"] for f in got] == list(range(hello["last_event_id"] + 1, hello["last_event_id"] + 5))
                    assert all(f["data"].get("id", f["data"].get("message")) == mid for f in got)
                    with contextlib.suppress(TimeoutError):
                        extra = json.loads(await asyncio.wait_for(socket.recv(), 2))
                        assert extra["type"] != "event", extra

            asyncio.run(scenario())
    finally:
        node.stop()
        proxy.close()


class PausableRedis:
    """A Redis server of this test's own, which it can freeze (SIGSTOP) and thaw: paused, it
    accepts connections and answers nothing, the worst kind of outage for a client."""

    def __init__(self):
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.resume()
        self.process.kill()
        self.process.wait(timeout=10)


def test_redis_paused_for_five_seconds_holds_up_no_rest_write_and_no_socket_send(database):
    # given: a node on a Redis of its own, two people, a conversation, bob's socket open
    redis = PausableRedis()
    node = Node(server_env(DATABASE_URL=database.url, REDIS_URL=redis.url, WS_LOG_CHECK_SECONDS="1")).start()
    try:
        with httpx.Client(base_url=node.http, timeout=10) as http:
            alice, bob = register(http, f"a{uuid.uuid4().hex[:8]}"), register(http, f"b{uuid.uuid4().hex[:8]}")
            a_headers = {"Authorization": f"Token {alice['token']}"}
            conversation = http.post(
                "/api/conversations", json={"usernames": [bob["user"]["username"]]}, headers=a_headers
            ).json()["id"]

            async def scenario():
                async with (
                    websockets.connect(f"{node.ws}?token={alice['token']}") as alice_ws,
                    websockets.connect(f"{node.ws}?token={bob['token']}") as bob_ws,
                ):
                    for ws in (alice_ws, bob_ws):
                        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"
                    # when: Redis freezes, and alice writes over REST and over her socket
                    redis.pause()
                    paused_at = time.monotonic()
                    timings, sent = [], []
                    while time.monotonic() - paused_at < 5:
                        started = time.monotonic()
                        body = f"rest {len(sent)}"
                        response = await asyncio.to_thread(
                            http.post,
                            f"/api/conversations/{conversation}/messages",
                            json={"body": body, "client_id": str(uuid.uuid4())},
                            headers=a_headers,
                        )
                        assert response.status_code == 201, response.text
                        sent.append(body)
                        body = f"socket {len(sent)}"
                        await alice_ws.send(
                            json.dumps(
                                {
                                    "type": "message.send",
                                    "ref": body,
                                    "conversation": conversation,
                                    "body": body,
                                    "client_id": str(uuid.uuid4()),
                                }
                            )
                        )
                        while True:
                            frame = json.loads(await asyncio.wait_for(alice_ws.recv(), 5))
                            if frame["type"] in ("ack", "error") and frame.get("ref") == body:
                                break
                        assert frame["type"] == "ack", frame
                        sent.append(body)
                        timings.append(time.monotonic() - started)
                        await asyncio.sleep(0.2)
                    redis.resume()
                    # then: every write went through promptly while Redis was frozen
                    assert len(sent) >= 10
                    assert max(timings) < 1.0, timings
                    # and bob's socket got every message once and in order (from the log, then live)
                    got = []
                    deadline = time.monotonic() + 20
                    while len(got) < len(sent) and time.monotonic() < deadline:
                        frame = json.loads(await asyncio.wait_for(bob_ws.recv(), 20))
                        if frame.get("event") == "message.new":
                            got.append(frame["data"]["body"])
                    assert got == sent

            asyncio.run(scenario())
    finally:
        node.stop()
        redis.close()


def test_a_node_killed_and_restarted_costs_the_other_node_no_503(database):
    # given: two nodes on one database and Redis; a client working against node B
    env = server_env(DATABASE_URL=database.url, REDIS_URL=REDIS_URL, CHANNEL_PREFIX=f"f-{uuid.uuid4().hex[:8]}")
    a, b = Node(env).start(), Node(env).start()
    try:
        with httpx.Client(base_url=b.http, timeout=10) as http:
            alice, bob = register(http, f"a{uuid.uuid4().hex[:8]}"), register(http, f"b{uuid.uuid4().hex[:8]}")
            headers = {"Authorization": f"Token {alice['token']}"}
            conversation = http.post(
                "/api/conversations", json={"usernames": [bob["user"]["username"]]}, headers=headers
            ).json()["id"]
            statuses = []

            def work(seconds: float) -> None:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    statuses.append(http.get("/api/conversations", headers=headers).status_code)
                    statuses.append(
                        http.post(
                            f"/api/conversations/{conversation}/messages",
                            json={"body": "still here", "client_id": str(uuid.uuid4())},
                            headers=headers,
                        ).status_code
                    )

            # when: node A is SIGKILLed and started again while B serves
            work(1)
            a.kill()
            work(2)
            a.start()
            work(3)
        # then: B never answered 503 (nor anything else unexpected)
        assert statuses and set(statuses) <= {200, 201}, sorted(set(statuses))
    finally:
        a.kill()
        b.kill()
