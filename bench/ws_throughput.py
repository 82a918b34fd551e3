"""End-to-end DM throughput over real websockets: daphne nodes, PostgreSQL, Redis.

Starts its own migrated database and N daphne nodes (or uses --url), registers P pairs of
users, and has each sender push M messages over its socket (a window of unacked sends)
while the receivers, connected to the *other* node, count `message.new`. Reports delivered
DMs per second and send-to-receive latency percentiles; fails loudly on a lost or
duplicated event.

    DATABASE_URL=postgres://postgres@localhost:5432/instaclone REDIS_URL=redis://localhost:6379/0 \
        .venv/bin/python bench/ws_throughput.py [--pairs 20] [--messages 50] [--nodes 2]

`--dispatch` instead measures, in process and without any I/O, the CPU the gateway spends
relaying one live event, with Channels' stock `dispatch` (a thread hop to
`close_old_connections` before every handler) and with the gateway's (no hop).
"""

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import websockets
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import Database, Node, server_env  # noqa: E402


def register(base: str) -> dict:
    name = f"b{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.post(
            "/api/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-battery-9"},
        )
        r.raise_for_status()
        return {"token": r.json()["token"], "username": name}


def conversation(base: str, a: dict, b: dict) -> int:
    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.post(
            "/api/conversations", json={"usernames": [b["username"]]}, headers={"Authorization": f"Token {a['token']}"}
        )
        r.raise_for_status()
        return r.json()["id"]


async def receiver(url: str, token: str, expected: int, sent_at: dict, latencies: list, ready: asyncio.Event):
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {token}"}, max_size=None) as ws:
        json.loads(await ws.recv())
        ready.set()
        ids = []
        while len(ids) < expected:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if frame["type"] == "event" and frame["event"] == "message.new":
                ids.append(frame["id"])
                started = sent_at.get(frame["data"]["client_id"])
                if started is not None:
                    latencies.append(time.perf_counter() - started)
        if ids != sorted(set(ids)):
            raise AssertionError("events out of order or duplicated")
        return len(ids)


async def sender(url: str, token: str, conversation_id: int, count: int, window: int, sent_at: dict, acks: list):
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {token}"}, max_size=None) as ws:
        json.loads(await ws.recv())
        in_flight = 0
        acked = 0
        sent = 0
        while acked < count:
            while sent < count and in_flight < window:
                client_id = f"{uuid.uuid4().hex}"
                sent_at[client_id] = time.perf_counter()
                await ws.send(
                    json.dumps(
                        {
                            "type": "message.send",
                            "ref": str(sent),
                            "conversation": conversation_id,
                            "body": f"bench {sent}",
                            "client_id": client_id,
                        }
                    )
                )
                sent += 1
                in_flight += 1
            frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if frame["type"] == "ack":
                acks.append(time.perf_counter() - sent_at[frame["data"]["client_id"]])
                acked += 1
                in_flight -= 1
            elif frame["type"] == "error":
                raise AssertionError(f"send failed: {frame}")


async def bench(ws_urls: list[str], http_urls: list[str], pairs: int, messages: int, window: int) -> dict:
    users = [(register(http_urls[0]), register(http_urls[0])) for _ in range(pairs)]
    conversations = [conversation(http_urls[0], a, b) for a, b in users]
    sent_at: dict = {}
    latencies: list = []
    acks: list = []
    readies = [asyncio.Event() for _ in range(pairs)]
    receivers = [
        asyncio.create_task(
            receiver(ws_urls[(i + 1) % len(ws_urls)], b["token"], messages, sent_at, latencies, readies[i])
        )
        for i, (_a, b) in enumerate(users)
    ]
    await asyncio.gather(*(r.wait() for r in readies))
    started = time.perf_counter()
    await asyncio.gather(
        *(
            sender(ws_urls[i % len(ws_urls)], a["token"], conversations[i], messages, window, sent_at, acks)
            for i, (a, _b) in enumerate(users)
        )
    )
    delivered = sum(await asyncio.gather(*receivers))
    elapsed = time.perf_counter() - started
    latencies.sort()
    acks.sort()
    return {
        "ack_p50_ms": 1000 * statistics.median(acks),
        "delivered": delivered,
        "seconds": elapsed,
        "per_second": delivered / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(len(latencies) * 0.95) - 1],
    }


def node_counters(base: str) -> dict:
    """How the node delivered durable events: live, from the log to fill a gap, or by its check."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    counters = {}
    for line in text.splitlines():
        if line.startswith(("instaclone_ws_events_out_total{", "instaclone_ws_gaps_filled_total ")):
            name, value = line.rsplit(" ", 1)
            counters[name.replace("instaclone_ws_", "")] = float(value)
    return counters


def dispatch_cost(count: int) -> dict:
    """CPU microseconds per relayed `event.push`, with and without the per-handler hop."""
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from channels.consumer import AsyncConsumer

    from realtime.consumers import GatewayConsumer

    data = {"id": 1, "conversation": 3, "sender": {"id": 8, "username": "bob"}, "body": "x" * 100}

    async def run(stock: bool) -> float:
        consumer = GatewayConsumer()
        consumer.scope, consumer.user_id, consumer.last_sent = {}, 1, 0

        async def base_send(message):
            pass

        consumer.base_send = base_send
        dispatch = (lambda m: AsyncConsumer.dispatch(consumer, m)) if stock else consumer.dispatch
        # As realtime.events makes them: each frame encoded once, whatever the sockets.
        pushes = [
            {
                "type": "event.push",
                "id": seq,
                "text": json.dumps({"type": "event", "id": seq, "event": "message.new", "data": data}),
            }
            for seq in range(1, count + 1)
        ]
        started = time.process_time()
        for push in pushes:
            await dispatch(push)
        assert consumer.last_sent == count
        return (time.process_time() - started) / count * 1e6

    return {"stock_us": asyncio.run(run(True)), "gateway_us": asyncio.run(run(False))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--messages", type=int, default=50, help="per sender")
    parser.add_argument("--window", type=int, default=10, help="unacked sends per sender")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--url", action="append", help="an existing node's base http URL (repeatable); skips set-up")
    parser.add_argument("--dispatch", action="store_true", help="measure the per-event dispatch cost only")
    args = parser.parse_args(argv)
    if args.dispatch:
        cost = dispatch_cost(20000)
        print(
            f"CPU per relayed event: stock Channels dispatch {cost['stock_us']:.1f} us, "
            f"gateway dispatch {cost['gateway_us']:.1f} us ({cost['stock_us'] / cost['gateway_us']:.1f}x less)"
        )
        return 0

    database, nodes = None, []
    try:
        if args.url:
            http_urls = args.url
        else:
            # Production mode (DEBUG off: no query log), plain HTTP on loopback.
            env = server_env(
                CHANNEL_PREFIX=f"bench-{uuid.uuid4().hex[:8]}",
                THROTTLE_RATES="anon=off,user=off,register=off,message=off",
                DEBUG="0",
                HTTPS="0",
                SECRET_KEY=secrets.token_urlsafe(50),
                FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            )
            database = Database(prefix="instaclone_bench").migrate(env)
            env["DATABASE_URL"] = database.url
            nodes = [Node(env).start() for _ in range(args.nodes)]
            http_urls = [n.http for n in nodes]
        ws_urls = [u.replace("http", "ws", 1).rstrip("/") + "/ws/" for u in http_urls]
        result = asyncio.run(bench(ws_urls, http_urls, args.pairs, args.messages, args.window))
        result["metrics"] = {url: node_counters(url) for url in http_urls}
    finally:
        for node in nodes:
            node.kill()
        if database is not None:
            database.drop()
    print(
        f"websocket DMs: {args.pairs} pairs x {args.messages} messages over {len(http_urls)} node(s), window {args.window}"
    )
    print(
        f"delivered {result['delivered']} in {result['seconds']:.2f} s = {result['per_second']:.0f} DMs/s; "
        f"latency p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms (send to ack p50 {result['ack_p50_ms']:.1f} ms)"
    )
    for name, counters in result.get("metrics", {}).items():
        print(f"{name}: " + ", ".join(f"{k} {v:.0f}" for k, v in counters.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
