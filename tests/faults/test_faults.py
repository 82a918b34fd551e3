"""Outages of the real services, through a TCP proxy that cuts them off and brings them back."""

import asyncio
import json
import os
import time
import uuid

import httpx
import pytest
import websockets

from tests.servers import Database, Node, server_env
from tests.tcp_proxy import TcpProxy

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
