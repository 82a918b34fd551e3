"""Helpers for gateway tests: sockets through the real ASGI stack (origin check, auth,
consumer) on the configured channel layer, and database set-up from async tests."""

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections, transaction

from realtime.db import shutdown
from tests.factories import UserFactory, issue_token


def application():
    from asgi import application as app

    return app


def communicator(
    *, token: str | None = None, query: str = "", headers: list[tuple[bytes, bytes]] | None = None
) -> WebsocketCommunicator:
    """A socket to /ws/; the token goes in the Authorization header."""
    all_headers = list(headers or [])
    if token is not None:
        all_headers.append((b"authorization", f"Token {token}".encode()))
    path = "/ws/" + (f"?{query}" if query else "")
    return WebsocketCommunicator(application(), path, headers=all_headers)


async def open_socket(token: str, *, query: str = "", within: float = 3) -> tuple[WebsocketCommunicator, dict]:
    """Connects and returns the socket with its `hello` frame."""
    comm = communicator(token=token, query=query)
    connected, _ = await comm.connect(timeout=within)
    assert connected
    hello = await comm.receive_json_from(timeout=within)
    assert hello["type"] == "hello", hello
    return comm, hello


EPHEMERAL_BY_DEFAULT = ("presence",)


async def receive_json(comm: WebsocketCommunicator, *, within: float = 5, skip=EPHEMERAL_BY_DEFAULT) -> dict:
    """The next frame, skipping `presence` (which arrives whenever a peer comes or goes)."""
    while True:
        frame = await comm.receive_json_from(timeout=within)
        if frame.get("type") not in skip:
            return frame


async def nothing_more(comm: WebsocketCommunicator, *, within: float = 0.2, skip=EPHEMERAL_BY_DEFAULT) -> bool:
    """True when no frame other than skipped ones arrives within `within` seconds."""
    while not await comm.receive_nothing(timeout=within):
        frame = await comm.receive_json_from()
        if frame.get("type") not in skip:
            return False
    return True


async def receive_frames(comm: WebsocketCommunicator, count: int, *, within: float = 5) -> list[dict]:
    return [await receive_json(comm, within=within) for _ in range(count)]


async def receive_until(comm: WebsocketCommunicator, predicate, *, within: float = 5) -> list[dict]:
    """Frames up to and including the first one `predicate` accepts."""
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        remaining = deadline - loop.time()
        assert remaining > 0, f"timed out; got {frames}"
        frame = await receive_json(comm, within=remaining)
        frames.append(frame)
        if predicate(frame):
            return frames


async def receive_events(comm: WebsocketCommunicator, count: int, *, within: float = 5) -> list[dict]:
    """The next `count` durable events, skipping ephemeral frames."""
    got = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(got) < count:
        remaining = deadline - loop.time()
        assert remaining > 0, f"timed out after {len(got)} of {count} events: {got[-3:]}"
        frame = await comm.receive_json_from(timeout=remaining)
        if frame["type"] == "event":
            got.append(frame)
    return got


async def receive_close(comm: WebsocketCommunicator, *, within: float = 3) -> int:
    """The close code the server sends next (frames before it are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        output = await comm.receive_output(timeout=max(0.01, deadline - loop.time()))
        if output["type"] == "websocket.close":
            return output.get("code", 1000)


async def send(comm: WebsocketCommunicator, frame: dict) -> None:
    await comm.send_to(text_data=json.dumps(frame))


@sync_to_async
def make_user(**kwargs):
    return UserFactory(**kwargs)


@sync_to_async
def make_token(user) -> str:
    return issue_token(user)


async def make_user_with_token(**kwargs):
    user = await make_user(**kwargs)
    return user, await make_token(user)


@sync_to_async
def open_conversation(creator, *others, request: bool = False) -> int:
    """Opens a conversation, accepted by everyone in it unless `request` (then a 1:1 stays
    a message request for a recipient who does not follow the creator)."""
    from chat.models import Participant
    from chat.services import conversation_open

    conversation, _ = conversation_open(creator=creator, usernames=[o.username for o in others])
    if not request:
        Participant.objects.filter(conversation=conversation).update(accepted=True)
    return conversation.pk


@sync_to_async
def send_message(sender, conversation_id: int, body: str = "hi", client_id: str | None = None):
    """Sends through the service (as REST does); returns the message."""
    from chat.services import message_send

    message, _ = message_send(
        sender=sender, conversation_id=conversation_id, body=body, client_id=client_id or str(uuid.uuid4())
    )
    return message


@sync_to_async
def append_event(user_id: int, data: dict, *, publish: bool = True) -> int:
    """Appends a notification.new event for one user; with publish=False the channel-layer
    publish is lost, as if Redis dropped it."""
    from realtime import events

    if publish:
        with transaction.atomic():
            return events.append(user_ids=[user_id], kind="notification.new", data=data)[user_id]
    original = events.publish
    events.publish = lambda sends: None
    try:
        with transaction.atomic():
            return events.append(user_ids=[user_id], kind="notification.new", data=data)[user_id]
    finally:
        events.publish = original


@sync_to_async
def last_event_id(user_id: int) -> int:
    from realtime import events

    return events.last_event_id(user_id=user_id)


@pytest.fixture(autouse=True)
async def _close_worker_thread_connections():
    """Consumers reach the database from worker threads; end them (and so their
    connections) after each test so the test database can be dropped at the end of the run."""
    yield
    await shutdown()
    await sync_to_async(connections.close_all)()
