"""A socket leaves nothing behind, whichever way it ends: the open-sockets gauge, the hub,
its channel-layer groups (and so the node's Redis subscriptions), its presence in Redis, and
its peers hear "offline".

The hard way to end is the one a running node meets: the peer's close frame has arrived, so
every send raises (autobahn's "Attempt to send on a closed protocol"), while events are
still arriving; daphne's disconnect comes a moment later, or daphne gives up on the app and
cancels it. `DyingPeer` plays that server side for one socket."""

import asyncio
import random

import pytest
from channels.layers import get_channel_layer

from core import redis as shared_redis
from core.metrics import WS_CONNECTIONS
from realtime import presence
from realtime.hub import hub
from realtime.publish import user_group
from tests.ws_helpers import (  # noqa: F401 - the fixture is used by every test
    _close_worker_thread_connections,
    append_event,
    application,
    make_user_with_token,
    open_conversation,
    open_socket,
    send,
    send_message,
)

pytestmark = pytest.mark.django_db(transaction=True)


class DyingPeer:
    """The server side of one socket whose sends start raising when `die()` is called."""

    def __init__(self, token: str):
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.sent: list[dict] = []
        self.dead = False
        self.refused = 0
        scope = {
            "type": "websocket",
            "path": "/ws/",
            "raw_path": b"/ws/",
            "query_string": b"",
            "headers": [(b"authorization", f"Token {token}".encode())],
            "subprotocols": [],
            "client": ["127.0.0.1", 40000],
            "server": ["127.0.0.1", 8000],
        }
        self.inbox.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.ensure_future(application()(scope, self.inbox.get, self._send))

    async def _send(self, message: dict) -> None:
        if self.dead:
            self.refused += 1
            raise RuntimeError("Attempt to send on a closed protocol")
        self.sent.append(message)

    async def greeted(self, within: float = 5) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not any(m.get("type") == "websocket.send" and '"hello"' in m.get("text", "") for m in self.sent):
            assert loop.time() < deadline, self.sent
            assert not self.task.done(), self.task
            await asyncio.sleep(0.005)

    def die(self) -> None:
        self.dead = True


def _layer():
    return get_channel_layer()._get_layer()


async def _presence_of(user_id: int) -> tuple[int, bool]:
    client = shared_redis.async_client()
    sockets = await client.zcard(presence._sockets_key(user_id))
    online = await client.zscore(presence._online_key(), str(user_id))
    return sockets, online is not None


async def test_sockets_closed_mid_burst_leave_nothing_behind():
    rng = random.Random(12)
    # given: bob shares a conversation (with a message) with alice, whose socket watches his
    # presence
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    await send_message(alice, conversation, "hi")
    watcher, _ = await open_socket(alice_token)
    baseline = WS_CONNECTIONS._value.get()
    group = _layer()._get_group_channel_name(user_group(bob.pk))
    endings = {"disconnect": 0, "cancel": 0, "cancel_twice": 0, "disconnect_late": 0}

    for round_ in range(30):
        # when: bob opens a socket, events and typing pour in, and the socket dies mid-burst
        peer = DyingPeer(bob_token)
        await peer.greeted()
        await asyncio.sleep(rng.uniform(0, 0.03))  # sometimes before presence is recorded
        burst = asyncio.ensure_future(
            asyncio.gather(*(append_event(bob.pk, {"round": round_, "n": n}) for n in range(rng.randint(3, 12))))
        )
        for _ in range(rng.randint(0, 5)):
            await send(watcher, {"type": "typing", "conversation": conversation})
        await asyncio.sleep(rng.uniform(0, 0.02))
        peer.die()
        ending = rng.choice(list(endings))
        endings[ending] += 1
        if ending == "disconnect_late":
            await burst
            await asyncio.sleep(0.05)
        if ending == "cancel":
            peer.task.cancel()  # daphne's application_close_timeout
        elif ending == "cancel_twice":
            # a second cancel while the first one's clean-up leaves its groups (a server
            # shutting down)
            peer.task.cancel()
            for _ in range(rng.randint(1, 4)):
                await asyncio.sleep(0)
            peer.task.cancel()
        else:
            peer.inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})
        await asyncio.wait_for(asyncio.gather(peer.task, return_exceptions=True), 5)
        await burst

    # then: nothing of bob's sockets is left anywhere
    await asyncio.sleep(0.3)  # the "offline" announcements run as their own tasks
    assert WS_CONNECTIONS._value.get() == baseline
    assert [socket.user_id for socket in hub().sockets] == [alice.pk]
    assert group not in _layer().groups
    assert all(group not in shard._subscribed_to for shard in _layer()._shards)
    assert await _presence_of(bob.pk) == (0, False)
    # and alice was told he left, last
    seen = []
    while not await watcher.receive_nothing(timeout=0.1):
        frame = await watcher.receive_json_from()
        if frame["type"] == "presence" and frame["data"]["user"]["id"] == bob.pk:
            seen.append(frame["data"]["online"])
    assert seen and seen[-1] is False, seen
    assert all(endings.values()), endings
    await watcher.disconnect()


async def test_a_join_retried_by_the_hub_that_lands_after_the_socket_ended_is_undone():
    # given: a socket whose group joins failed at connect (Redis hiccup), so the hub retries
    _user, token = await make_user_with_token()
    layer = _layer()
    original = layer.group_add

    async def failing_add(group, channel):
        raise ConnectionError("redis away")

    layer.group_add = failing_add
    peer = DyingPeer(token)
    try:
        await peer.greeted()
        socket = next(iter(hub().sockets))
        assert socket.unjoined

        # when: the hub's retry is on its way when the peer goes
        async def slow_add(group, channel):
            await asyncio.sleep(0.2)
            await original(group, channel)

        layer.group_add = slow_add
        retry = asyncio.ensure_future(socket.rejoin())
        await asyncio.sleep(0.05)
        peer.inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})
        await asyncio.wait_for(peer.task, 5)
        await retry
    finally:
        layer.group_add = original
    # then: the late join was undone; nothing stays subscribed for it
    assert not any(channel == socket.channel_name for members in layer.groups.values() for channel in members)
    assert not socket.joined and not socket.unjoined and not hub().sockets
