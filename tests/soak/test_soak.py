"""The soak (issue 12): one real daphne node on a fresh PostgreSQL database and a Redis of its
own, held under a steady mixed load for SOAK_SECONDS (30 minutes by default):

- USERS people, each with one socket open; every few seconds a share of them disconnect and
  come back with `?after=` (resume), as phones do;
- steady DMs over the sockets (`message.send` with a `client_id`), between the two people of
  a pair; a send cut off by a disconnect is sent again after the reconnect, as clients do;
- feed posts: a multipart upload of a small generated image every few seconds, by one of
  the POSTERS people whom everyone else follows in tenths, so each post is pushed live to
  about a tenth of the sockets.

Every SAMPLE_SECONDS the node's RSS, the database's connections (pg_stat_activity), Redis'
used_memory, the channel layer's groups (its pub/sub channels: this layer keeps no keys)
and the Redis keys under the run's prefix (presence, cache) are taken, with the sockets
open. After the warm-up (the first WARM_UP share of the run) each series must stay flat;
the database's connections never pass the configured pools; and nothing is lost: every
acked DM reaches its recipient and its sender's socket exactly once, event ids rising by
one per person across every reconnect.

    make soak                   # 30 minutes
    SOAK_SECONDS=120 make soak  # a short try
"""

import asyncio
import contextlib
import io
import json
import logging
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

import httpx
import psycopg
import pytest
import redis.asyncio
from cryptography.fernet import Fernet
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.servers import ROOT, Database, Node, admin_dsn, server_env
from tests.tcp_proxy import free_port

SECONDS = float(os.environ.get("SOAK_SECONDS", "1800"))
USERS = int(os.environ.get("SOAK_USERS", "1000"))
POSTERS = 10
DM_RATE = float(os.environ.get("SOAK_DM_RATE", "25"))  # DMs a second
POST_SECONDS = float(os.environ.get("SOAK_POST_SECONDS", "3"))
CHURN_SECONDS = 5.0
# The share of the sockets closed and reopened every CHURN_SECONDS.
CHURN_SHARE = float(os.environ.get("SOAK_CHURN_SHARE", "0.02"))
SAMPLE_SECONDS = float(os.environ.get("SOAK_SAMPLE_SECONDS", str(min(30.0, max(5.0, SECONDS / 12)))))
WARM_UP = 0.2
DB_POOL, WS_DB_POOL = 10, 4  # the node's pools: it may hold at most their sum
GROWTH_LIMIT = 0.10  # RSS and Redis memory: end and trend within 10% of the post-warm-up level
REDIS_SLACK = 256 * 1024  # Redis' client buffers move by this much from one instant to the next
DRAIN_SECONDS = 120.0
PRESENCE_TTL = 90  # the node's PRESENCE_TTL_SECONDS (its default); presence keys live twice that
BODY = "soak " + "x" * 95


def image_bytes(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 96), ((seed * 37) % 256, (seed * 91) % 256, 128)).save(out, "JPEG")
    return out.getvalue()


# --- Processes --------------------------------------------------------------------------


class OwnRedis:
    """A redis-server of the soak's own, so its memory is the soak's alone (other work on a
    shared machine uses the common one). SOAK_REDIS_URL names an existing one instead."""

    def __init__(self):
        self.process = None
        self.url = os.environ.get("SOAK_REDIS_URL", "")
        if self.url:
            return
        if shutil.which("redis-server") is None:
            self.url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
            return
        port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def world(tmp_path):
    """A migrated database with USERS people (tests/soak/seed.py) and one node serving it."""
    own_redis = OwnRedis()
    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    env = server_env(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        REDIS_URL=own_redis.url,
        CHANNEL_PREFIX=prefix,
        CACHE_PREFIX=prefix,
        MEDIA_ROOT=tmp_path / "media",
        DB_POOL_SIZE=DB_POOL,
        WS_DB_POOL_SIZE=WS_DB_POOL,
        THROTTLE_RATES="anon=off,user=off,register=off,message=off,post=off,follow=off",
        LOG_LEVEL="WARNING",
        PRESENCE_TTL_SECONDS=PRESENCE_TTL,
    )
    database = Database(prefix="instaclone_soak").migrate(env)
    env["DATABASE_URL"] = database.url
    node = None
    try:
        started = time.monotonic()
        out = tmp_path / "world.json"
        subprocess.run(
            [sys.executable, "-m", "tests.soak.seed", str(USERS), str(POSTERS), str(out)], cwd=ROOT, env=env, check=True
        )
        seeded = json.loads(out.read_text())
        print(f"\nsoak: {USERS} people seeded in {time.monotonic() - started:.0f} s", flush=True)
        node = Node(env, log_dir=tmp_path, backlog=1024)
        node.start()
        yield {
            "node": node,
            "database": database,
            "redis_url": own_redis.url,
            "prefix": prefix,
            "report": tmp_path / "soak-report.json",
            **seeded,
        }
    finally:
        if node is not None:
            node.stop()
        database.drop()
        own_redis.close()


class ConnectionCounter(threading.Thread):
    """The database's connections (pg_stat_activity) twice a second; keeps the largest,
    overall and since the last `take()`."""

    def __init__(self, dbname: str):
        super().__init__(daemon=True)
        self.dbname = dbname
        self.current = self.largest = self.recent = 0
        self.running = True

    def run(self):
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            while self.running:
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.dbname]
                ).fetchone()
                self.current = count
                self.largest, self.recent = max(self.largest, count), max(self.recent, count)
                time.sleep(0.5)

    def take(self) -> int:
        recent, self.recent = self.recent, self.current
        return recent


# --- The load ---------------------------------------------------------------------------


class Sock:
    """Person `index`'s one socket, across its reconnects."""

    def __init__(self, index: int, user: dict, conversation: int):
        self.index = index
        self.user = user
        self.conversation = conversation
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.ready = False
        self.leaving = False  # closed on purpose (churn, the end): not a loss
        self.cycling = False
        self.greeted = False  # has had a hello: later connects resume from last_eid
        self.last_eid = 0
        self.pending: dict[str, str] = {}  # client_id -> frame, until acked


class Soak:
    def __init__(self, world: dict):
        self.node: Node = world["node"]
        users = world["users"]
        self.tag = f"k{uuid.uuid4().hex[:6]}."
        self.socks = [Sock(i, user, world["conversations"][i // 2]) for i, user in enumerate(users)]
        self.posters = [self.socks[i] for i in world["posters"]]
        self.redis = redis.asyncio.Redis.from_url(world["redis_url"])
        self.prefix = world["prefix"]
        self.counter = ConnectionCounter(world["database"].name)
        self.stopping = False
        # DM k: (sender, recipient); whether acked, and how often each side received it.
        self.dms: list[tuple[int, int]] = []
        self.acked = bytearray()
        self.received = bytearray()
        self.echoed = bytearray()
        self.out_of_order = self.gaps = self.misrouted = 0
        self.connects = self.reconnects = self.failed_connects = self.unexpected_closes = 0
        self.feed_pushes = 0
        self.posts = self.failed_posts = 0
        self.errors: list = []
        self.samples: list[dict] = []
        self.started = 0.0

    # sockets

    async def open(self, sock: Sock) -> None:
        """Connects (resuming after the last event seen, once there is one), then sends again
        whatever was not acked."""
        url = self.node.ws + (f"?after={sock.last_eid}" if sock.greeted else "")
        for attempt in range(8):
            try:
                sock.ready, sock.leaving = False, False
                sock.ws = await connect(
                    url,
                    additional_headers={"Authorization": f"Token {sock.user['token']}"},
                    compression=None,
                    ping_interval=None,
                    max_size=None,
                    open_timeout=60,
                    close_timeout=5,
                    proxy=None,
                )
                resuming = sock.greeted
                sock.reader = asyncio.create_task(self.read(sock, sock.ws, resuming))
                deadline = time.monotonic() + 60
                while not sock.ready and sock.reader is not None and not sock.reader.done():
                    if time.monotonic() > deadline:
                        raise TimeoutError("no hello")
                    await asyncio.sleep(0.05)
                if not sock.ready:
                    raise ConnectionError("closed before hello")
                self.connects += 1
                for frame in list(sock.pending.values()):
                    await sock.ws.send(frame)
                return
            except Exception as exc:  # noqa: BLE001 - counted, retried
                self.failed_connects += 1
                self.note(f"connect {sock.index}: {exc!r}")
                await asyncio.sleep(0.5 * 2**attempt)
        raise RuntimeError(f"socket {sock.index} could not connect")

    async def close(self, sock: Sock) -> None:
        sock.leaving, sock.ready = True, False
        if sock.ws is not None:
            with contextlib.suppress(Exception):
                await sock.ws.close()
        if sock.reader is not None:
            with contextlib.suppress(Exception):
                await sock.reader
        sock.ws = sock.reader = None

    async def cycle(self, sock: Sock, pause: float) -> None:
        sock.cycling = True
        try:
            await self.close(sock)
            await asyncio.sleep(pause)
            if not self.stopping:
                await self.open(sock)
                self.reconnects += 1
        finally:
            sock.cycling = False

    async def read(self, sock: Sock, ws, resuming: bool) -> None:
        tag, n = self.tag, len(self.tag)
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "event":
                    eid = frame["id"]
                    if eid <= sock.last_eid:
                        self.out_of_order += 1
                    elif eid != sock.last_eid + 1:
                        self.gaps += 1
                    sock.last_eid = max(sock.last_eid, eid)
                    cid = (frame["data"].get("client_id") or "") if frame["event"] == "message.new" else ""
                    if cid.startswith(tag):
                        k = int(cid[n:])
                        sender, recipient = self.dms[k]
                        if sock.index == recipient:
                            self.received[k] = min(255, self.received[k] + 1)
                        elif sock.index == sender:
                            self.echoed[k] = min(255, self.echoed[k] + 1)
                        else:
                            self.misrouted += 1
                elif kind == "ack":
                    ref = frame.get("ref") or ""
                    if sock.pending.pop(ref, None) is not None and ref.startswith(tag):
                        self.acked[int(ref[n:])] = 1
                elif kind == "feed.post":
                    self.feed_pushes += 1
                elif kind == "hello":
                    if not sock.greeted:
                        sock.last_eid, sock.greeted = frame["last_event_id"], True
                    if not resuming:
                        sock.ready = True
                elif kind == "resumed":
                    sock.ready = True
                elif kind == "error":
                    self.note(frame)
        except ConnectionClosed:
            pass
        finally:
            sock.ready = False
            if not sock.leaving and not self.stopping:
                self.unexpected_closes += 1
                self.note(f"socket {sock.index} closed: {ws.close_code} {ws.close_reason}")
                if not sock.cycling:  # a client comes back
                    asyncio.get_running_loop().create_task(self.cycle(sock, 1.0))

    def note(self, error) -> None:
        if len(self.errors) < 50:
            self.errors.append(error)

    # the three kinds of load

    async def churn(self) -> None:
        batch = max(1, round(len(self.socks) * CHURN_SHARE))
        while True:
            await asyncio.sleep(CHURN_SECONDS)
            idle = [s for s in self.socks if s.ready and not s.cycling]
            for sock in random.sample(idle, min(batch, len(idle))):
                asyncio.get_running_loop().create_task(self.cycle(sock, random.uniform(0.5, 3.0)))

    async def dms_steadily(self) -> None:
        start = time.monotonic()
        k = 0
        while True:
            delay = start + k / DM_RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pair = random.randrange(len(self.socks) // 2)
            a, b = self.socks[2 * pair], self.socks[2 * pair + 1]
            if random.random() < 0.5:
                a, b = b, a
            sender, recipient = (a, b) if a.ready else (b, a)
            if not sender.ready:
                continue  # both away this instant: another pair
            cid = f"{self.tag}{len(self.dms)}"
            frame = json.dumps(
                {
                    "type": "message.send",
                    "ref": cid,
                    "conversation": sender.conversation,
                    "body": BODY,
                    "client_id": cid,
                }
            )
            self.dms.append((sender.index, recipient.index))
            self.acked.append(0)
            self.received.append(0)
            self.echoed.append(0)
            sender.pending[cid] = frame
            with contextlib.suppress(ConnectionClosed):
                await sender.ws.send(frame)  # cut off: sent again after the reconnect
            k += 1

    async def post_steadily(self, http: httpx.AsyncClient) -> None:
        i = 0
        while True:
            await asyncio.sleep(POST_SECONDS)
            poster = random.choice(self.posters)
            try:
                r = await http.post(
                    "/api/posts",
                    headers={"Authorization": f"Token {poster.user['token']}"},
                    data={"caption": f"soak {i} #soak"},
                    files={"image": ("soak.jpg", image_bytes(i), "image/jpeg")},
                )
                if r.status_code == 201:
                    self.posts += 1
                else:
                    self.failed_posts += 1
                    self.note(f"post: {r.status_code} {r.text[:200]}")
            except httpx.HTTPError as exc:
                self.failed_posts += 1
                self.note(f"post: {exc!r}")
            i += 1

    # figures

    async def sample(self, phase: str) -> dict:
        info = await self.redis.info("memory")
        groups = len(await self.redis.pubsub_channels(f"{self.prefix}__group__*"))
        keys = presence = 0
        async for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            keys += 1
            # A socket's key (the online set outlives them with stale scores, for prune_stale).
            presence += key.startswith(f"{self.prefix}:presence:sockets:".encode())
        row = {
            "t": round(time.monotonic() - self.started),
            "phase": phase,
            "rss_kib": self.node.rss_kib(),
            "db": self.counter.current,
            "db_max": self.counter.take(),
            "redis_kib": info["used_memory"] // 1024,
            "groups": groups,
            "keys": keys,
            "presence_keys": presence,
            "open": sum(1 for s in self.socks if s.ready),
            "dms": len(self.dms),
            "acked": sum(self.acked),
            "posts": self.posts,
        }
        self.samples.append(row)
        print(
            f"{row['t']:>6} {phase:<7} {row['rss_kib'] / 1024:>8.1f} {row['db']:>3} {row['db_max']:>6} "
            f"{row['redis_kib'] / 1024:>8.2f} {row['groups']:>6} {row['keys']:>5} {row['open']:>5} "
            f"{row['dms']:>7} {row['acked']:>7} {row['posts']:>5}",
            flush=True,
        )
        return row

    async def sample_steadily(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            await self.sample("load")

    # the run

    async def run(self) -> None:
        self.counter.start()
        gate = asyncio.Semaphore(50)

        async def first(sock: Sock) -> None:
            async with gate:
                await self.open(sock)

        opening = time.monotonic()
        await asyncio.gather(*(first(s) for s in self.socks))
        print(f"soak: {len(self.socks)} sockets open in {time.monotonic() - opening:.0f} s", flush=True)
        print(
            "     t phase    RSS MiB  db db_max Redis MiB groups  keys  open     DMs   acked posts",
            flush=True,
        )
        self.started = time.monotonic()
        await self.sample("start")
        limits = httpx.Limits(max_connections=4)
        async with httpx.AsyncClient(base_url=self.node.http, timeout=60, limits=limits) as http:
            load = [
                asyncio.create_task(self.dms_steadily()),
                asyncio.create_task(self.churn()),
                asyncio.create_task(self.post_steadily(http)),
                asyncio.create_task(self.sample_steadily()),
            ]
            await asyncio.sleep(SECONDS)
            for task in load:
                task.cancel()
            await asyncio.gather(*load, return_exceptions=True)
        await self.sample("end")
        await self.drain()
        await self.sample("drained")
        self.stopping = True
        await asyncio.gather(*(self.close(s) for s in self.socks))
        # The groups go as the disconnects are handled: give the node a moment.
        for _ in range(30):
            if not await self.redis.pubsub_channels(f"{self.prefix}__group__*"):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        await self.sample("closed")
        # A burst of disconnects can trip the Redis breaker (core/redis.py): the offline
        # records it skips expire with their TTL instead. Nothing may outlive that.
        deadline = time.monotonic() + 2 * PRESENCE_TTL + 15
        while time.monotonic() < deadline and self.samples[-1]["presence_keys"]:
            await asyncio.sleep(5)
            await self.sample("expiry")
        self.counter.running = False
        await self.redis.aclose()

    async def drain(self) -> None:
        """Every socket back, every send acked, every acked DM at both ends, or the time is up."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            for sock in self.socks:
                if not sock.ready and not sock.cycling:
                    asyncio.get_running_loop().create_task(self.cycle(sock, 0))
            if (
                all(s.ready and not s.pending for s in self.socks)
                and all(self.acked)
                and self.received.count(0) == 0
                and self.echoed.count(0) == 0
            ):
                return
            await asyncio.sleep(1.0)


# --- Flatness ---------------------------------------------------------------------------


def slope_per_second(points: list[tuple[float, float]]) -> float:
    """Least-squares slope."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread if spread else 0.0


def flatness(samples: list[dict], key: str, slack: float = 0.0) -> dict:
    """The series after the warm-up: its level there, at the end, and the growth its trend
    line makes over that span; flat when both stay within GROWTH_LIMIT (plus `slack`)."""
    base, end = samples[0][key], samples[-1][key]
    span = samples[-1]["t"] - samples[0]["t"]
    trend = slope_per_second([(s["t"], s[key]) for s in samples]) * span
    limit = base * GROWTH_LIMIT + slack
    return {
        "base": base,
        "end": end,
        "trend": round(trend),
        "limit": round(limit),
        "flat": end - base <= limit and trend <= limit,
    }


def test_a_half_hour_of_churn_dms_and_posts_leaves_memory_connections_and_groups_flat_and_loses_nothing(world):
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per post otherwise
    soak = Soak(world)
    asyncio.run(soak.run())

    samples = soak.samples
    load = [s for s in samples if s["phase"] in ("start", "load", "end")]
    settled = [s for s in load if s["t"] >= WARM_UP * SECONDS]
    sent = len(soak.dms)
    unacked = sent - sum(soak.acked)
    acked = [k for k in range(sent) if soak.acked[k]]
    lost = sum(1 for k in acked if soak.received[k] == 0)
    echo_lost = sum(1 for k in acked if soak.echoed[k] == 0)
    duplicated = sum(1 for k in range(sent) if soak.received[k] > 1 or soak.echoed[k] > 1)
    rss = flatness(settled, "rss_kib")
    redis_memory = flatness(settled, "redis_kib", slack=REDIS_SLACK / 1024)
    churn_batch = max(1, round(len(soak.socks) * CHURN_SHARE))
    # Two groups a socket: its person's and its credential's (one socket a person here).
    stray_groups = max(s["groups"] - 2 * s["open"] for s in load)
    start, after_warm_up, end, left = samples[0], settled[0], load[-1], samples[-1]
    closed = next(s for s in samples if s["phase"] == "closed")
    summary = {
        "seconds": SECONDS,
        "sockets": len(soak.socks),
        "connects": soak.connects,
        "reconnects": soak.reconnects,
        "failed_connects": soak.failed_connects,
        "unexpected_closes": soak.unexpected_closes,
        "dms_sent": sent,
        "dms_acked": sent - unacked,
        "dms_delivered": sum(1 for k in acked if soak.received[k] == 1),
        "dms_lost": lost,
        "echoes_lost": echo_lost,
        "duplicated": duplicated,
        "out_of_order": soak.out_of_order,
        "gaps": soak.gaps,
        "misrouted": soak.misrouted,
        "posts": soak.posts,
        "failed_posts": soak.failed_posts,
        "feed_pushes": soak.feed_pushes,
        "db_connections_max": soak.counter.largest,
        "db_pool": DB_POOL + WS_DB_POOL,
        "rss": rss,
        "redis_memory": redis_memory,
        "stray_groups": stray_groups,
        "start": start,
        "after_warm_up": after_warm_up,
        "end": end,
        "closed": closed,
        "left": left,
        "errors": [str(e)[:300] for e in soak.errors[:10]],
    }
    world["report"].write_text(json.dumps({"summary": summary, "samples": samples}, indent=1))
    print(
        f"soak: {SECONDS:.0f} s, {len(soak.socks)} sockets, {soak.reconnects} reconnects; "
        f"DMs {sent} sent, {summary['dms_delivered']} delivered once, {lost} lost, {duplicated} duplicated, "
        f"{unacked} unacked; {soak.posts} posts ({soak.feed_pushes} live pushes); "
        f"RSS {after_warm_up['rss_kib'] / 1024:.1f} -> {end['rss_kib'] / 1024:.1f} MiB, "
        f"Redis {after_warm_up['redis_kib'] / 1024:.2f} -> {end['redis_kib'] / 1024:.2f} MiB, "
        f"database connections at most {soak.counter.largest} (pool {DB_POOL + WS_DB_POOL}), "
        f"groups {end['groups']} for {end['open']} sockets ({closed['groups']} once all closed); "
        f"presence keys {closed['presence_keys']} just after closing, {left['presence_keys']} at t={left['t']}\n"
        f"soak report: {world['report']}",
        flush=True,
    )
    if soak.errors:
        print("soak errors (first ten):", *summary["errors"], sep="\n  ")

    # then: nothing lost
    assert unacked == 0, summary
    assert lost == 0 and echo_lost == 0 and duplicated == 0 and soak.misrouted == 0, summary
    assert soak.out_of_order == 0 and soak.gaps == 0, summary
    assert soak.posts > 0 and soak.failed_posts == 0, summary
    # the node within its pools, and flat after the warm-up
    assert soak.counter.largest <= DB_POOL + WS_DB_POOL, summary
    assert rss["flat"], summary
    assert redis_memory["flat"], summary
    assert stray_groups <= 2 * churn_batch, summary
    # and nothing left behind once the sockets are gone
    assert closed["groups"] == 0, summary
    assert left["presence_keys"] == 0, summary
