"""Channel-layer relay benchmark: channels-redis' core layer against its pub/sub layer.

A bare relay, no database: one "server" process (one core) holds N channels, each in its own
group (as every socket sits in `user.<id>`), and drains them; a separate sender process
`group_send`s M messages round-robin over the groups as fast as it can. Reported per layer:
messages delivered per second (first send to last receive), and how many were lost.

    REDIS_URL=redis://localhost:6379/0 .venv/bin/python bench/channel_layers.py [--messages 20000] [--groups 100]

Both layers get the explicit connection settings of config/settings.py (socket timeouts,
pool cap), which redis-py 8's defaults would otherwise set for them.
"""

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
import uuid

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


def make_layer(kind: str, prefix: str):
    host = {
        "address": REDIS_URL,
        "socket_timeout": 30,
        "socket_connect_timeout": 2,
        "max_connections": 10000,
        "retry_on_timeout": True,
    }
    if kind == "core":
        from channels_redis.core import RedisChannelLayer

        return RedisChannelLayer(hosts=[host], prefix=prefix)
    from channels_redis.pubsub import RedisPubSubChannelLayer

    return RedisPubSubChannelLayer(hosts=[host], prefix=prefix)


def server(kind: str, prefix: str, groups: int, messages: int, ready, results) -> None:
    async def main():
        layer = make_layer(kind, prefix)
        channels = [await layer.new_channel() for _ in range(groups)]
        for i, channel in enumerate(channels):
            await layer.group_add(f"bench.{i}", channel)
        received = 0
        last_at = 0.0
        done = asyncio.Event()

        async def drain(channel):
            nonlocal received, last_at
            while True:
                await layer.receive(channel)
                received += 1
                last_at = time.time()
                if received >= messages:
                    done.set()

        tasks = [asyncio.create_task(drain(c)) for c in channels]
        ready.set()
        # Stop when everything arrived, or when nothing has arrived for 3 s (drops).
        while not done.is_set():
            before = received
            try:
                await asyncio.wait_for(done.wait(), 3)
            except TimeoutError:
                if received == before and received > 0:
                    break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        results.put((received, last_at))
        if hasattr(layer, "flush"):
            await layer.flush()

    asyncio.run(main())


def sender(kind: str, prefix: str, groups: int, messages: int, results, concurrency: int = 32) -> None:
    async def main():
        layer = make_layer(kind, prefix)
        started = time.time()
        per_worker = messages // concurrency

        async def work(w: int):
            for n in range(per_worker):
                seq = w * per_worker + n
                await layer.group_send(f"bench.{seq % groups}", {"type": "event.push", "seq": seq, "body": "x" * 200})

        await asyncio.gather(*(work(w) for w in range(concurrency)))
        results.put((started, time.time()))

    asyncio.run(main())


def run(kind: str, groups: int, messages: int) -> dict:
    ctx = mp.get_context("spawn")
    prefix = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
    ready, server_results, sender_results = ctx.Event(), ctx.Queue(), ctx.Queue()
    srv = ctx.Process(target=server, args=(kind, prefix, groups, messages, ready, server_results))
    srv.start()
    if not ready.wait(30):
        srv.terminate()
        raise RuntimeError("server did not start")
    snd = ctx.Process(target=sender, args=(kind, prefix, groups, messages, sender_results))
    snd.start()
    started, sent_at = sender_results.get(timeout=600)
    received, last_at = server_results.get(timeout=600)
    snd.join()
    srv.join()
    elapsed = max(last_at, sent_at) - started
    return {
        "layer": kind,
        "sent": messages,
        "received": received,
        "lost": messages - received,
        "seconds": elapsed,
        "per_second": received / elapsed if elapsed > 0 else 0.0,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--layers", default="core,pubsub")
    args = parser.parse_args(argv)
    messages = args.messages - args.messages % 32
    rows = [run(kind, args.groups, messages) for kind in args.layers.split(",")]
    print(f"channel-layer relay, {messages} messages over {args.groups} groups, Redis {REDIS_URL}")
    print(f"{'layer':<8} {'sent':>8} {'received':>9} {'lost':>6} {'seconds':>8} {'msgs/s':>9}")
    for r in rows:
        print(
            f"{r['layer']:<8} {r['sent']:>8} {r['received']:>9} {r['lost']:>6} {r['seconds']:>8.2f} {r['per_second']:>9.0f}"
        )
    by = {r["layer"]: r for r in rows}
    if "core" in by and "pubsub" in by and by["core"]["per_second"]:
        print(f"pubsub / core throughput: {by['pubsub']['per_second'] / by['core']['per_second']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
