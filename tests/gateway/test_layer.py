"""The gateway's channel layer (realtime/layer.py) on the real Redis: groups cross processes
as with channels-redis, publishes share round trips, a consumer's own channel costs Redis
nothing, and a message is decoded once per node."""

import asyncio
import os
import uuid

import pytest

from realtime.layer import GatewayChannelLayer
from tests.tcp_proxy import TcpProxy

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")


def layer(prefix: str, address: str = REDIS_URL) -> GatewayChannelLayer:
    return GatewayChannelLayer(hosts=[{"address": address}], prefix=prefix)


@pytest.fixture
def prefix():
    return f"layer-test-{uuid.uuid4().hex[:8]}"


async def settle() -> None:
    await asyncio.sleep(0.2)  # Redis confirms a SUBSCRIBE on its own time


async def test_a_group_message_from_one_node_reaches_the_group_on_another(prefix):
    # given: two layers as two nodes, a channel of the second in a group
    one, two = layer(prefix), layer(prefix)
    channel = await two.new_channel()
    await two.group_add("people", channel)
    await settle()
    # when
    await one.group_send("people", {"type": "hello.there", "n": 1})
    # then
    assert await asyncio.wait_for(two.receive(channel), 5) == {"type": "hello.there", "n": 1}
    await one.flush()
    await two.flush()


async def test_a_consumers_own_channel_subscribes_to_nothing_and_local_sends_reach_it(prefix):
    node = layer(prefix)
    channel = await node.new_channel()
    shard = node._get_layer()._shards[0]
    assert shard._subscribed_to == set()
    await node.send(channel, {"type": "direct"})
    assert await asyncio.wait_for(node.receive(channel), 1) == {"type": "direct"}
    await node.group_add("g", channel)
    assert shard._subscribed_to == {f"{prefix}__group__g"}
    await node.flush()


async def test_concurrent_publishes_share_round_trips(prefix, monkeypatch):
    # given: a listener, and a count of the pipelines written
    node = layer(prefix)
    channel = await node.new_channel()
    await node.group_add("busy", channel)
    await settle()
    shard = node._get_layer()._shards[0]
    shard._ensure_redis()
    pipelines = []
    original = shard._redis.pipeline

    def counting_pipeline(*args, **kwargs):
        pipelines.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(shard._redis, "pipeline", counting_pipeline)
    # when: a thousand sends at once
    await asyncio.gather(*(node.group_send("busy", {"type": "n", "i": i}) for i in range(1000)))
    # then: all arrive, in order, in a handful of round trips
    received = [await asyncio.wait_for(node.receive(channel), 5) for _ in range(1000)]
    assert [m["i"] for m in received] == list(range(1000))
    assert len(pipelines) <= 10, len(pipelines)
    await node.flush()


async def test_a_message_is_decoded_once_for_all_the_sockets_of_a_node(prefix, monkeypatch):
    # given: three channels of one node in a group
    one, two = layer(prefix), layer(prefix)
    channels = [await two.new_channel() for _ in range(3)]
    for channel in channels:
        await two.group_add("room", channel)
    await settle()
    decoded = []
    original = two.deserialize
    monkeypatch.setattr(two, "deserialize", lambda data: decoded.append(1) or original(data))
    # when
    await one.group_send("room", {"type": "once"})
    # then: each got it, from one decoding
    for channel in channels:
        assert await asyncio.wait_for(two.receive(channel), 5) == {"type": "once"}
    assert len(decoded) == 1
    await one.flush()
    await two.flush()


async def test_a_lost_subscription_connection_is_trouble_and_so_is_its_return(prefix):
    # given: a node whose Redis runs through a proxy, a channel of it in a group
    host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
    proxy = TcpProxy(host, int(port)).start()
    one = layer(prefix)
    two = layer(prefix, f"redis://127.0.0.1:{proxy.port}/{REDIS_URL.rsplit('/', 1)[-1]}")
    channel = await two.new_channel()
    await two.group_add("people", channel)
    await settle()
    assert two.last_trouble() is None
    try:
        # when: the connection is cut
        await asyncio.to_thread(proxy.stop)
        await asyncio.sleep(0.5)
        # then: trouble
        cut = two.last_trouble()
        assert cut is not None
        # and when it is back, the subscription is back, which is trouble again (what was
        # published meanwhile missed this node)
        await asyncio.to_thread(proxy.start)
        for _ in range(50):
            if two.last_trouble() > cut + 0.3:
                break
            await asyncio.sleep(0.1)
        await settle()
        await one.group_send("people", {"type": "again"})
        assert await asyncio.wait_for(two.receive(channel), 5) == {"type": "again"}
        assert two.last_trouble() > cut
    finally:
        await one.flush()
        await two.flush()
        await asyncio.to_thread(proxy.close)
