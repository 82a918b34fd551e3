"""The channel layer: channels-redis' pub/sub layer, made to carry a gateway's load.

channels-redis' RedisPubSubChannelLayer is the doorbell (bench/channel_layers.py chose it),
but three of its habits cost the gateway most of a node's CPU under load (py-spy):
- every publish holds its connection's one lock for a whole Redis round trip, so a node
  publishes one message at a time, and a new socket's SUBSCRIBE waits behind them;
- every consumer's own channel is a SUBSCRIBE of its own, under that same lock, though no
  other process ever sends to a socket's own channel here;
- a group message is decoded again for every socket of the node that receives it.
`GatewayChannelLayer` keeps the rest and changes those: publishes go to an outbox that one
task per connection writes out, many per round trip (pipelined, no lock held); a consumer's
channel lives in this process only (no SUBSCRIBE; sending to it from here still works); and a
message is decoded once per node. Groups, the only cross-process addressing the gateway uses,
work as before. `group_send` returns when its message is written, as before, but concurrent
sends share round trips instead of queueing for the lock; a publish lost with an outage is a
gap the event log fills.

The layer also says when it last had trouble (`last_trouble`): a publish that failed, the
subscription connection lost, or that connection back. Whatever was published meanwhile,
by this node or another, may have missed this node's sockets, and the hub (realtime.hub)
looks at the log for all of them while the trouble is recent, instead of waiting for its
periodic check.
"""

import asyncio
import collections
import logging
import time
import uuid

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts

log = logging.getLogger(__name__)

# Publishes written per round trip, and how many may wait (a Redis outage) before the
# oldest are dropped.
BATCH = 500
OUTBOX_MAX = 100_000
# After the subscription connection fails, the next attempt waits this long (channels-redis
# waits a second, and so held every node's live delivery back a second after an outage).
RECONNECT_PAUSE = 0.25


class GatewayChannelLayer(RedisPubSubChannelLayer):
    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = self._layers[loop] = GatewayLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
            return layer

    async def ping(self) -> None:
        """Raises when a Redis of the layer does not answer (health checks)."""
        await self._get_layer().ping()

    def last_trouble(self) -> float | None:
        """When (time.monotonic()) the running loop's layer last lost a publish, lost its
        subscription connection or got it back; None if never."""
        return self._get_layer().last_trouble


class GatewayLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts=None, *args, **kwargs):
        super().__init__(hosts, *args, **kwargs)
        self._shards = [Shard(host, self) for host in decode_hosts(hosts)]
        self.last_trouble: float | None = None

    def troubled(self) -> None:
        self.last_trouble = time.monotonic()

    async def new_channel(self, prefix="specific."):
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        self.channels[channel] = asyncio.Queue()
        return channel

    async def send(self, channel, message):
        queue = self.channels.get(channel)
        if queue is not None:
            queue.put_nowait(message)
        else:
            await super().send(channel, message)

    async def receive(self, channel):
        queue = self.channels.setdefault(channel, asyncio.Queue())
        try:
            return await queue.get()
        except (TimeoutError, asyncio.CancelledError, GeneratorExit):
            # The consumer is exiting (as channels-redis assumes too): forget its channel.
            self.channels.pop(channel, None)
            raise

    async def group_send(self, group, message):
        group_channel = self._get_group_channel_name(group)
        await self._get_shard(group_channel).enqueue(group_channel, self.channel_layer.serialize(message))

    async def ping(self) -> None:
        for shard in self._shards:
            await shard.ping()


class Shard(RedisSingleShardConnection):
    def __init__(self, host, channel_layer):
        super().__init__(host, channel_layer)
        self._outbox: collections.deque[tuple[str, bytes, asyncio.Future]] = collections.deque()
        self._writer: asyncio.Task | None = None
        self._receiving_failed_at: float | None = None

    def enqueue(self, channel: str, data: bytes) -> asyncio.Future:
        """Queues a publish; the future is done when it is written (or failed)."""
        done = asyncio.get_running_loop().create_future()
        if len(self._outbox) >= OUTBOX_MAX:
            _, _, dropped = self._outbox.popleft()
            dropped.set_exception(ConnectionError("channel layer outbox full: publish dropped"))
        self._outbox.append((channel, data, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())
        return done

    async def _write(self) -> None:
        self._ensure_redis()
        while self._outbox:
            batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
            try:
                pipe = self._redis.pipeline(transaction=False)
                for channel, data, _ in batch:
                    pipe.publish(channel, data)
                await pipe.execute()
            except Exception as exc:  # noqa: BLE001 - every sender of the batch hears of it
                self.channel_layer.troubled()
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                await asyncio.sleep(0.1)
            else:
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def ping(self) -> None:
        self._ensure_redis()
        await self._redis.ping()

    async def _do_receiving(self):
        """channels-redis' receive loop, telling the layer of trouble: redis-py reconnects a
        lost subscription connection and subscribes it again within `get_message`, so the
        first call that returns after a failure is the subscription back."""
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    if self._receiving_failed_at is not None:
                        log.warning(
                            "channel layer: subscriptions back after %.1f s",
                            time.monotonic() - self._receiving_failed_at,
                        )
                        self._receiving_failed_at = None
                        self.channel_layer.troubled()
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            # Retried until Redis is back; a TimeoutError too (channels-redis let one end the loop).
            except Exception:  # noqa: BLE001
                if self._receiving_failed_at is None:
                    log.warning("channel layer: subscription connection lost; reconnecting", exc_info=True)
                    self._receiving_failed_at = time.monotonic()
                self.channel_layer.troubled()
                await asyncio.sleep(RECONNECT_PAUSE)

    def _receive_message(self, message):
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        targets = [name] if name in layer.channels else layer.groups.get(name, ())
        queues = [layer.channels[channel] for channel in targets if channel in layer.channels]
        if not queues:
            return
        decoded = layer.channel_layer.deserialize(message["data"])  # once, for every socket here
        for queue in queues:
            queue.put_nowait(decoded)
