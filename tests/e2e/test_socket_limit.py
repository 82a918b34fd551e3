"""The per-account socket limit across real daphne nodes: counted in Redis, so sockets on
any node count; a closed socket frees its place at once, a killed node's sockets when their
presence TTL runs out (nobody refreshes them)."""

import json
import os
import time
import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect

from tests.servers import Database, Node, server_env

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
LIMIT = 4
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")
TTL = 3


@pytest.fixture
def nodes():
    database = Database(prefix="instaclone_e2e_limit").migrate(server_env())
    env = server_env(
        DATABASE_URL=database.url,
        REDIS_URL=REDIS_URL,
        CHANNEL_PREFIX=f"e2e-limit-{uuid.uuid4().hex[:8]}",
        CACHE_PREFIX=f"e2e-limit-{uuid.uuid4().hex[:8]}",
        WS_MAX_SOCKETS_PER_USER=LIMIT,
        PRESENCE_TTL_SECONDS=TTL,
        WS_LOG_CHECK_SECONDS=0.5,
    )
    started = [Node(env), Node(env)]
    try:
        for node in started:
            node.start()
        yield started
    finally:
        for node in started:
            node.kill()
        database.drop()


def register(node: Node) -> str:
    name = f"u{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=node.http, timeout=10) as http:
        response = http.post(
            "/api/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-battery-9"},
        )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def connect(node: Node, token: str) -> tuple[ClientConnection, dict]:
    socket = sync_connect(node.ws, additional_headers={"Authorization": f"Token {token}"})
    return socket, json.loads(socket.recv(timeout=5))


def refused(node: Node, token: str) -> bool:
    """True when the node answers with `too_many_sockets` and closes with 4409."""
    socket, frame = connect(node, token)
    with socket:
        if frame.get("type") != "error" or frame.get("code") != "too_many_sockets":
            return False
        try:
            socket.recv(timeout=5)
        except Exception:  # noqa: BLE001 - the close arrives as an exception
            pass
        return socket.close_code == 4409


def test_sockets_on_every_node_count_and_a_killed_nodes_places_come_back(nodes):
    # given: the limit reached with sockets on both nodes
    first, second = nodes
    token = register(first)
    held = []
    for node in (first, first, second, second):
        socket, hello = connect(node, token)
        assert hello["type"] == "hello"
        held.append(socket)
    # then: either node refuses the next one
    assert refused(first, token)
    assert refused(second, token)
    # when: a socket closes, its place is free at once (and taken again)
    held.pop().close()
    time.sleep(0.3)
    socket, hello = connect(first, token)
    assert hello["type"] == "hello"
    held.append(socket)
    assert refused(second, token)
    # when: the first node dies with three of the sockets
    first.kill()
    # then: refused until their presence expires, then admitted again
    assert refused(second, token)
    deadline = time.monotonic() + TTL + 5
    admitted = None
    while time.monotonic() < deadline:
        try:
            socket, frame = connect(second, token)
        except ConnectionClosed as closed:  # refused, the close overtaking the error frame
            assert closed.rcvd is not None and closed.rcvd.code == 4409, closed
        else:
            if frame["type"] == "hello":
                admitted = socket
                break
            socket.close()
        time.sleep(0.5)
    assert admitted is not None, "the killed node's sockets never expired"
    admitted.close()
    for socket in held:
        socket.close()
