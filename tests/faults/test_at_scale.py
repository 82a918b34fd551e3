"""The fault test at scale (issue 12): FAULT_CLIENTS people (300 by default), one websocket
each, split across two daphne nodes that share one PostgreSQL and one Redis, each service
reached through a TcpProxy so it can be cut. DMs flow the whole time (FAULT_RATE a second,
half as `message.send` frames, half over REST), and the faults of tests/faults come one
after another with a steady period between: Redis cut off, Redis frozen (SIGSTOP),
PostgreSQL cut off, the Redis master SIGKILLed so that Sentinel promotes its replica, and a
node SIGKILLed and started again (last: its clients stay on the other node, and every Redis
fault should find sockets on both).

The clients behave as real ones: a failed send (an `error` frame, no ack in time, a 5xx, a
dropped connection) is retried with the same client_id; a dropped socket reconnects with
backoff, to its own node first and then the other, asking for `?after=` its newest event
id. Every frame is recorded as it arrives (nothing is deduplicated on the client side), and
at the end:
- every message the server acknowledged (an ack, a 200 or 201) reached each of its two
  recipients (the partner, and the sender's own socket) exactly once, and the database
  holds one message per client_id: 0 lost, 0 duplicated;
- each socket's event ids ran 1, 2, 3... with no gap or repeat, across reconnects: 0 out of
  order;
- no 5xx (nor an `unavailable`/`server_error` frame, nor a 4503 close) outside the
  PostgreSQL outage; inside it only 503 `unavailable`. The outage's window runs from the
  cut to PG_MARGIN (1 s) after the proxy is back: a request that started by then may still
  meet the outage (the nodes' pools notice the database back on their next attempt), and
  one that started later may not;
- each client was back within 10 s of each fault's end: connected, holding every message
  acknowledged before the end, and every send it had started before the end acknowledged.

FAULT_REDIS=sentinel (the default) runs Redis as a master, a replica and three sentinels
(both Redis servers behind their proxies, the replica announcing its proxy's port); with
FAULT_REDIS=plain the nodes use the master alone and the failover is skipped.

    DATABASE_URL=postgres://postgres@localhost:5432/instaclone \\
        .venv/bin/pytest -p no:cacheprovider tests/faults/test_at_scale.py -s
"""

import asyncio
import collections
import itertools
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.faults.redis_set import RedisSet, wait_for
from tests.servers import ROOT, Database, Node, server_env
from tests.tcp_proxy import TcpProxy

CLIENTS = int(os.environ.get("FAULT_CLIENTS", "300"))
RATE = float(os.environ.get("FAULT_RATE", "50"))  # DMs a second, in all
SENTINEL = os.environ.get("FAULT_REDIS", "sentinel") != "plain"
OUTAGE_SECONDS = 5.0
STEADY_SECONDS = 3.0  # after every client is back, before the next fault
RECOVERY_LIMIT = 10.0
PG_MARGIN = 1.0
ACK_WAIT = 5.0  # a socket send unanswered this long is sent again
REST_WAIT = 10.0  # the same for a REST send
HANG_SECONDS = 400  # the run normally takes under 150 s
# Sentinel's failure detection: longer than the cut and the freeze, which must not fail over.
DOWN_AFTER_MS = 8000

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")

SETUP = """
import json, os
from django.db import transaction
from accounts.credentials import token_create
from accounts.models import User
from chat.services import conversation_open

prefix, count = os.environ["FAULT_PREFIX"], int(os.environ["FAULT_COUNT"])
with transaction.atomic():
    users = []
    for i in range(count):
        user = User(username=f"{prefix}{i}")
        user.set_unusable_password()
        user.save()
        users.append({"id": user.pk, "username": user.username, "token": token_create(user=user), "user": user})
    conversations = [
        conversation_open(creator=users[i]["user"], usernames=[users[i + 1]["username"]])[0].pk
        for i in range(0, count - 1, 2)
    ]
for user in users:
    del user["user"]
print(json.dumps({"users": users, "conversations": conversations}))
"""


def create_people(database: Database, count: int) -> dict:
    """`count` accounts with a token each and a 1:1 conversation per pair, in one shell."""
    env = server_env(DATABASE_URL=database.url, FAULT_PREFIX=f"f{uuid.uuid4().hex[:6]}_", FAULT_COUNT=count)
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SETUP],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


async def until(done, within: float, step: float = 0.2) -> bool:
    """Waits up to `within` seconds for `done()` to be true; returns whether it is."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if done():
            return True
        await asyncio.sleep(step)
    return done()


@dataclass(eq=False)
class Send:
    client: "Client"
    client_id: str
    via: str  # "ws" or "rest"
    queued_at: float
    acked_at: float | None = None
    message_id: int | None = None
    attempts: int = 0
    ids: set = field(default_factory=set)  # every message id an answer named: one, or a duplicate
    log: list = field(default_factory=list)  # (started, ended, outcome) per attempt


@dataclass
class Fault:
    name: str
    start: float
    end: float
    note: str = ""
    skipped: str = ""


class NoResponse(EOFError):
    """The connection closed before any byte of a response."""


class Http:
    """A client's keep-alive HTTP/1.1 connection to one node, a request at a time. (httpx
    would cost these 300 clients more CPU than the nodes spend answering them: its pool
    scans every connection per request, and it retries a failed import per request.)"""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: str, token: str) -> tuple[int, bytes]:
        payload = body.encode()
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Token {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        reused = self.writer is not None
        try:
            return await self._exchange(request)
        except NoResponse:
            if not reused:
                raise
        # The server closed the idle connection before our request reached it: once more, afresh.
        return await self._exchange(request)

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        reader = self.reader
        try:
            self.writer.write(request)
            await self.writer.drain()
            line = await reader.readline()
        except ConnectionError:
            line = b""
        if not line:
            self.close()
            raise NoResponse
        status = int(line.split()[1])
        headers = {}
        while (header := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if "content-length" in headers:
            data = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            data = b""
            while size := int((await reader.readline()).split(b";")[0], 16):
                data += (await reader.readexactly(size + 2))[:-2]  # each chunk ends in CRLF
            await reader.readline()
        else:
            data = await reader.read()
            self.close()
        if headers.get("connection") == "close":
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None


class Client:
    """One person's socket, kept open across drops, and the record of what arrived on it."""

    def __init__(self, index: int, user: dict, conversation: int, home: int):
        self.index, self.user, self.conversation, self.home = index, user, conversation, home
        self.partner: Client = self
        self.ws = None
        self.ready = asyncio.Event()
        self.last: int | None = None  # the newest event id received
        self.order_errors: list[tuple[int, int]] = []  # (expected id, id received)
        self.counts: collections.Counter = collections.Counter()  # message id -> times received
        self.received_at: dict[int, float] = {}
        self.outstanding: set[int] = set()  # acknowledged message ids not yet received here
        self.sessions: list[list] = []  # [hello at, closed at or None, node index]
        self.closes: list[tuple[float, int | None]] = []
        self.server_errors: list[tuple[float, str]] = []  # `unavailable` / `server_error` frames
        self.pending: dict[str, asyncio.Future] = {}
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.sends: list[Send] = []
        self.unacked: set[Send] = set()
        self.http: dict[int, Http] = {}  # node index -> connection

    def connected_since(self, moment: float) -> float | None:
        """When, at or after `moment`, this client was first connected (None: not yet)."""
        for hello_at, closed_at, _node in self.sessions:
            if closed_at is None or closed_at > moment:
                return max(hello_at, moment)
        return None


class Run:
    def __init__(self, nodes: list[Node], people: dict):
        self.nodes = nodes
        users, conversations = people["users"], people["conversations"]
        self.clients = [Client(i, users[i], conversations[i // 2], i % 2) for i in range(2 * len(conversations))]
        for i in range(0, len(self.clients), 2):
            self.clients[i].partner, self.clients[i + 1].partner = self.clients[i + 1], self.clients[i]
        self.sends: list[Send] = []
        self.by_message: dict[int, Send] = {}
        self.responses: list[tuple[float, float, int, int]] = []  # REST: started, answered, status, node
        self.unexpected: list[str] = []
        self.stopping = False
        self.sending = True
        self.rng = random.Random(12)
        self.tasks: list[asyncio.Task] = []
        self.paths: dict[str, float] = {}
        self.stuck: list[tuple[float, int]] = []  # sockets whose send or close could not be written

    # Sockets

    async def keep_connected(self, client: Client, gate: asyncio.Semaphore) -> None:
        attempt = 0
        first = True
        while not self.stopping:
            node = (client.home + attempt) % 2
            url = f"{self.nodes[node].ws}?token={client.user['token']}"
            if client.last is not None:
                url += f"&after={client.last}"
            greeted = False
            try:
                if first:
                    async with gate:
                        ws = await websockets.connect(url, open_timeout=30, ping_interval=None, proxy=None)
                else:
                    ws = await websockets.connect(url, open_timeout=10, ping_interval=None, proxy=None)
                first = False
                async with ws:
                    greeted = await self.read(client, ws, node)
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError):
                pass
            if self.stopping:
                return
            attempt = 0 if greeted else attempt + 1
            # The protocol's advice: a random wait up to min(10 s, 0.2 s * 2^attempt).
            await asyncio.sleep(self.rng.uniform(0, min(10.0, 0.2 * 2**attempt)))

    async def read(self, client: Client, ws, node: int) -> bool:
        greeted = False
        try:
            async for text in ws:
                now = time.monotonic()
                frame = json.loads(text)
                kind = frame.get("type")
                if kind == "event":
                    self.on_event(client, frame, now)
                elif kind == "hello":
                    greeted = True
                    if client.last is None:  # the first connect: events start after this
                        client.last = frame["last_event_id"]
                    client.sessions.append([now, None, node])
                    client.ws = ws
                    client.ready.set()
                elif kind in ("ack", "error"):
                    if kind == "error" and frame.get("code") in ("unavailable", "server_error"):
                        client.server_errors.append((now, frame["code"]))
                    elif kind == "error":
                        self.unexpected.append(f"client {client.index}: {frame}")
                    future = client.pending.pop(frame.get("ref"), None)
                    if future is not None and not future.done():
                        future.set_result(frame)
        except ConnectionClosed:
            pass
        finally:
            now = time.monotonic()
            if greeted:
                client.sessions[-1][1] = now
            client.ready.clear()
            client.ws = None
            client.closes.append((now, ws.close_code))
            for future in client.pending.values():
                if not future.done():
                    future.set_result(None)
            client.pending.clear()
        return greeted

    def on_event(self, client: Client, frame: dict, now: float) -> None:
        eid = frame["id"]
        if client.last is not None and eid != client.last + 1:
            client.order_errors.append((client.last + 1, eid))
        client.last = eid if client.last is None else max(client.last, eid)
        if frame.get("event") == "message.new":
            mid = frame["data"]["id"]
            client.counts[mid] += 1
            client.received_at.setdefault(mid, now)
            client.outstanding.discard(mid)

    # Sends

    async def schedule(self) -> None:
        """DM k goes at t0 + k/RATE from the next client of a shuffled round, over its socket
        or REST at random."""
        order = list(self.clients)
        self.rng.shuffle(order)
        t0, k = time.monotonic(), 0
        while self.sending:
            delay = t0 + k / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1:  # the loop fell behind: no burst to catch up
                t0 -= delay
            client = order[k % len(order)]
            send = Send(client, str(uuid.uuid4()), "ws" if self.rng.random() < 0.5 else "rest", time.monotonic())
            self.sends.append(send)
            client.sends.append(send)
            client.unacked.add(send)
            client.outbox.put_nowait(send)
            k += 1

    async def sender(self, client: Client) -> None:
        """A client's sends, one at a time and in order, each until it is acknowledged."""
        while (send := await client.outbox.get()) is not None:
            delay = 0.25
            while True:
                send.attempts += 1
                if await (self.send_frame(send) if send.via == "ws" else self.send_rest(send)):
                    break
                await asyncio.sleep(delay * self.rng.uniform(0.5, 1.0))
                delay = min(2.0, delay * 2)

    def acked(self, send: Send, message_id: int) -> None:
        send.ids.add(message_id)
        if send.acked_at is not None:
            return
        send.acked_at, send.message_id = time.monotonic(), message_id
        send.client.unacked.discard(send)
        self.by_message[message_id] = send
        for recipient in (send.client, send.client.partner):
            if message_id not in recipient.counts:
                recipient.outstanding.add(message_id)

    async def send_frame(self, send: Send) -> bool:
        started = time.monotonic()
        outcome = await self._send_frame(send)
        send.log.append((started, time.monotonic(), outcome))
        return outcome == "ack"

    async def _send_frame(self, send: Send) -> str:
        client = send.client
        try:
            await asyncio.wait_for(client.ready.wait(), ACK_WAIT)
        except TimeoutError:
            return "not connected"
        ws = client.ws
        if ws is None:
            return "not connected"
        future = asyncio.get_running_loop().create_future()
        client.pending[send.client_id] = future
        frame = {
            "type": "message.send",
            "ref": send.client_id,
            "conversation": client.conversation,
            "body": f"dm {send.client_id[:8]}",
            "client_id": send.client_id,
        }
        try:
            await asyncio.wait_for(ws.send(json.dumps(frame)), ACK_WAIT)
        except ConnectionClosed:
            return "closed"
        except TimeoutError:
            # The frame could not be written (websockets waits for the socket's buffer without a
            # limit): the connection is stuck, and a client would drop it and reconnect.
            self.stuck.append((time.monotonic(), client.index))
            ws.transport.abort()
            return "stuck"
        try:
            answer = await asyncio.wait_for(future, ACK_WAIT)
        except ConnectionClosed:
            return "closed"
        except TimeoutError:
            return "no answer"
        finally:
            if client.pending.get(send.client_id) is future:
                del client.pending[send.client_id]
        if answer is None:
            return "closed"
        if answer["type"] == "error":
            return answer["code"]
        self.acked(send, answer["data"]["id"])
        return "ack"

    async def send_rest(self, send: Send) -> bool:
        client = send.client
        node = (client.home + send.attempts - 1) % 2 if send.attempts > 1 else client.home
        connection = client.http.setdefault(node, Http(self.nodes[node].port))
        body = json.dumps({"body": f"dm {send.client_id[:8]}", "client_id": send.client_id})
        started = time.monotonic()
        try:
            status, data = await asyncio.wait_for(
                connection.post(f"/api/conversations/{client.conversation}/messages", body, client.user["token"]),
                REST_WAIT,
            )
        except (OSError, EOFError, ValueError, TimeoutError) as exc:
            connection.close()
            send.log.append((started, time.monotonic(), f"node {node}: {type(exc).__name__}"))
            return False
        self.responses.append((started, time.monotonic(), status, node))
        send.log.append((started, time.monotonic(), f"node {node}: {status}"))
        if status in (200, 201):
            self.acked(send, json.loads(data)["id"])
            return True
        if status < 500:
            self.unexpected.append(f"REST send of client {client.index}: {status} {data[:200]!r}")
            send.client.unacked.discard(send)
            return True
        return False

    # Progress

    def behind(self, end: float) -> list[Client]:
        """The clients not yet back after a fault that ended at `end`."""
        out = []
        for client in self.clients:
            if (
                not client.ready.is_set()
                or any(self.by_message[mid].acked_at < end for mid in client.outstanding)
                or any(send.queued_at < end for send in client.unacked)
            ):
                out.append(client)
        return out

    async def settle(self, end: float, limit: float) -> None:
        """Waits until every client is back (or `limit` seconds past `end`), then a steady while."""
        await until(lambda: not self.behind(end), end + limit - time.monotonic(), step=0.25)
        await asyncio.sleep(STEADY_SECONDS)

    def recovery(self, client: Client, end: float) -> tuple[float, dict[str, float], str]:
        """Seconds from `end` until the client was back (infinite if it never was): connected,
        its sends of before `end` acknowledged, the messages acknowledged before `end`
        received. Also each of the three, and what it waited for last."""
        inf = float("inf")
        connected = client.connected_since(end)
        parts = {"connect": inf if connected is None else connected, "sends": end, "delivery": end}
        why = {"connect": "never connected again" if connected is None else "connected"}
        for send in client.sends:
            if send.queued_at < end:
                acked = send.acked_at if send.acked_at is not None else inf
                if acked > parts["sends"]:
                    parts["sends"] = acked
                    why["sends"] = (
                        f"its {send.via} send, queued {send.queued_at - end:+.2f} s, {send.attempts} attempts"
                    )
        for send in client.sends + client.partner.sends:
            if send.acked_at is not None and send.acked_at < end:
                arrived = client.received_at.get(send.message_id, inf)
                if arrived > parts["delivery"]:
                    parts["delivery"] = arrived
                    why["delivery"] = f"message {send.message_id} ({send.via}, acked {send.acked_at - end:+.2f} s)"
        parts = {name: max(0.0, at - end) for name, at in parts.items()}
        last = max(parts, key=parts.__getitem__)
        return parts[last], parts, why[last]


async def scenario(nodes: list[Node], redis_set: RedisSet, pg_proxy: TcpProxy, people: dict) -> tuple[Run, list]:
    run = Run(nodes, people)
    faults: list[Fault] = []
    senders: list[asyncio.Task] = []
    scheduler = None
    # Should the run hang, what every task was waiting for.
    watchdog = asyncio.get_running_loop().call_later(HANG_SECONDS, print_tasks)
    try:
        gate = asyncio.Semaphore(50)
        run.tasks = [asyncio.ensure_future(run.keep_connected(c, gate)) for c in run.clients]
        opened = time.monotonic()
        connected = await until(lambda: all(c.ready.is_set() for c in run.clients), 60, step=0.1)
        assert connected, "the sockets did not all connect within 60 s"
        print(f"\n{len(run.clients)} sockets open in {time.monotonic() - opened:.1f} s", flush=True)
        senders = [asyncio.ensure_future(run.sender(c)) for c in run.clients]
        scheduler = asyncio.ensure_future(run.schedule())
        started = time.monotonic()
        await asyncio.sleep(5)
        faults.append(Fault("steady", started, started))

        async def outage(name: str, begin, finish, note: str = "") -> None:
            start = time.monotonic()
            await asyncio.to_thread(begin)
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(finish)
            faults.append(Fault(name, start, time.monotonic(), note))
            await run.settle(faults[-1].end, RECOVERY_LIMIT + 2)

        await outage("redis cut", redis_set.master_proxy.stop, redis_set.master_proxy.start)
        await outage(
            "redis frozen",
            lambda: redis_set.master.send_signal(signal.SIGSTOP),
            lambda: redis_set.master.send_signal(signal.SIGCONT),
        )
        await outage("postgres cut", pg_proxy.stop, pg_proxy.start)

        if SENTINEL:
            # The cut and the freeze are shorter than the sentinels' DOWN_AFTER_MS: no failover yet.
            assert not await asyncio.to_thread(redis_set.promoted), "the sentinels failed over before the kill"
            start = time.monotonic()
            await asyncio.to_thread(redis_set.master.kill)
            await asyncio.to_thread(wait_for, redis_set.promoted, 60, "the sentinels to promote the replica")
            end = time.monotonic()
            faults.append(Fault("sentinel failover", start, end, f"promoted after {end - start:.1f} s"))
            await run.settle(end, RECOVERY_LIMIT + 2)
        else:
            now = time.monotonic()
            reason = "FAULT_REDIS=plain: no Sentinel configured"
            faults.append(Fault("sentinel failover", now, now, skipped=reason))
            print(f"sentinel failover skipped: {reason}", flush=True)

        start = time.monotonic()
        await asyncio.to_thread(nodes[1].kill)
        await asyncio.sleep(1)
        await asyncio.to_thread(nodes[1].start)
        end = time.monotonic()
        faults.append(Fault("node killed", start, end, f"restarted after {end - start:.1f} s"))
        await run.settle(end, RECOVERY_LIMIT + 2)

        # The end: no new sends; every started one acknowledged, every message delivered.
        run.sending = False
        await scheduler
        for client in run.clients:
            client.outbox.put_nowait(None)
        drained = time.monotonic()
        await until(lambda: not any(c.unacked for c in run.clients), 30)
        await until(lambda: not any(c.outstanding for c in run.clients), drained + 40 - time.monotonic())
        await asyncio.sleep(1)  # a late duplicate would arrive meanwhile
        for task in senders:
            task.cancel()
        run.paths = await delivery_paths(nodes)
    finally:
        watchdog.cancel()
        run.stopping, run.sending = True, False
        for task in [*senders, *([scheduler] if scheduler else [])]:
            task.cancel()
        # All at once and bounded: a close waits for the socket's buffer without a limit.
        closing = [asyncio.ensure_future(c.ws.close()) for c in run.clients if c.ws is not None]
        if closing:
            _, pending = await asyncio.wait(closing, timeout=15)
            run.stuck += [(time.monotonic(), -1) for _ in pending]
        for client in run.clients:
            if client.ws is not None:
                client.ws.transport.abort()
            for connection in client.http.values():
                connection.close()
        for task in run.tasks:
            task.cancel()
        await asyncio.wait(run.tasks, timeout=15)
    return run, faults


def print_tasks() -> None:
    print(f"\nthe run has taken over {HANG_SECONDS} s; its tasks:", flush=True)
    for task in asyncio.all_tasks():
        task.print_stack(limit=8)


async def delivery_paths(nodes: list[Node]) -> dict[str, float]:
    """How the nodes sent durable events (live, replay, gap, check), from their /metrics."""
    paths: dict[str, float] = collections.Counter()
    for node in nodes:
        async with httpx.AsyncClient(base_url=node.http, timeout=10, trust_env=False) as http:
            text = (await http.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith("instaclone_ws_events_out_total{"):
                paths[line.split('path="', 1)[1].split('"', 1)[0]] += float(line.split()[-1])
    return dict(paths)


def dump(run: Run, faults: list[Fault], path: Path) -> None:
    """The run's record, for a look after a failure: times in seconds from the first fault."""
    zero = faults[0].start

    def t(x):
        return None if x is None else round(x - zero, 3)

    record = {
        "faults": [{**f.__dict__, "start": t(f.start), "end": t(f.end)} for f in faults],
        "responses": [(t(a), t(b), status, node) for a, b, status, node in run.responses],
        "sends": [
            {
                "client": s.client.index,
                "via": s.via,
                "queued": t(s.queued_at),
                "acked": t(s.acked_at),
                "message": s.message_id,
                "attempts": [(t(a), t(b), what) for a, b, what in s.log],
                "received": [t(c.received_at.get(s.message_id)) for c in (s.client, s.client.partner)],
            }
            for s in run.sends
        ],
        "sessions": {c.index: [(t(a), t(b), node) for a, b, node in c.sessions] for c in run.clients},
    }
    path.write_text(json.dumps(record))


def sends_around(client: Client, fault: Fault) -> list[str]:
    """A client's sends about a fault, each attempt in seconds from the fault's end."""
    lines = [f"  client {client.index} (node {client.home}), sessions {client.sessions[-3:]}, end {fault.end:.2f}:"]
    for send in client.sends:
        if fault.start - 5 < send.queued_at < fault.end + 15 or any(a < fault.end < b for a, b, _ in send.log):
            attempts = ", ".join(f"{a - fault.end:+.2f}..{b - fault.end:+.2f} {what}" for a, b, what in send.log)
            lines.append(f"    {send.via} queued {send.queued_at - fault.end:+.2f}: {attempts}")
    return lines


def server_log(node: Node, lines: int = 15) -> str:
    """The last warnings and errors of a node's log, without daphne's access lines."""
    text = node.log_tail(100_000).splitlines()
    return "\n".join([line for line in text if not line.startswith("127.0.0.1:")][-lines:])


def report(run: Run, faults: list[Fault], pg_window: tuple[float, float]) -> list[str]:
    """One line per fault, and the problems found (empty when all is well)."""
    problems = list(run.unexpected[:10])
    # 0 lost, 0 duplicated
    lost, doubled, unanswered = [], [], []
    known = set()
    for send in run.sends:
        if send.acked_at is None:
            unanswered.append(send.client_id)
            continue
        if len(send.ids) > 1:
            doubled.append(f"client_id {send.client_id} answered with messages {sorted(send.ids)}")
        known.add(send.message_id)
        for recipient in (send.client, send.client.partner):
            times = recipient.counts[send.message_id]
            if times == 0:
                lost.append(f"message {send.message_id} never reached client {recipient.index}")
            elif times > 1:
                doubled.append(f"message {send.message_id} reached client {recipient.index} {times} times")
    phantom = [(c.index, mid) for c in run.clients for mid in c.counts if mid not in known]
    problems += [f"{len(unanswered)} sends never acknowledged"] if unanswered else []
    problems += lost[:10] + doubled[:10]
    problems += [f"unacknowledged messages arrived: {phantom[:10]}"] if phantom else []
    # 0 out of order
    for client in run.clients:
        if client.order_errors:
            problems.append(f"client {client.index} expected/got event ids {client.order_errors[:5]}")
    # no 5xx outside the PostgreSQL outage
    low, high = pg_window
    for started, answered, status, node in run.responses:
        inside = started <= high and answered >= low
        if status >= 500 and not (inside and status == 503):
            problems.append(f"HTTP {status} from node {node} at {answered - faults[0].start:.1f} s")
    for client in run.clients:
        for at, code in client.server_errors:
            if not (low <= at <= high and code == "unavailable"):
                problems.append(f"client {client.index}: error {code} at {at - faults[0].start:.1f} s")
        for at, code in client.closes:
            if code in (1011, 4503) and not (code == 4503 and low <= at <= high):
                problems.append(f"client {client.index}: closed {code} at {at - faults[0].start:.1f} s")
    # the figures, and every client back within 10 s of each fault's end
    lines = []
    bounds = [f.start for f in faults[1:]] + [float("inf")]
    for fault, until in zip(faults, bounds, strict=True):
        sends = [s for s in run.sends if fault.start <= s.queued_at < until]
        delivered = sum(min(1, r.counts[s.message_id]) for s in sends for r in (s.client, s.client.partner))
        answers = [(b - a, status) for a, b, status, _ in run.responses if fault.start <= b < until]
        fives = sum(1 for _, status in answers if status >= 500)
        fives += sum(1 for c in run.clients for at, _ in c.server_errors if fault.start <= at < until)
        if fault.skipped:
            lines.append(f"{fault.name:<18} skipped: {fault.skipped}")
            continue
        line = (
            f"{fault.name:<18} sent {len(sends):>5}  delivered {delivered:>5}/{2 * len(sends):<5}  5xx {fives:>4}  "
            f"slowest REST {max((t for t, _ in answers), default=0):5.2f} s"
        )
        if fault.name == "steady":
            lines.append(line)
            continue
        recoveries = {c.index: run.recovery(c, fault.end) for c in run.clients}
        times = sorted((t, i) for i, (t, _, _) in recoveries.items())
        worst, who = times[-1]
        parts = {name: max(r[1][name] for r in recoveries.values()) for name in ("connect", "sends", "delivery")}
        # Each socket that dropped in the fault's period, and how long until it was greeted again.
        gaps = [
            later[0] - earlier[1]
            for c in run.clients
            for earlier, later in itertools.pairwise(c.sessions)
            if fault.start <= earlier[1] < until
        ]
        lines.append(
            f"{line}  reconnects {len(gaps):>4} (slowest {max(gaps, default=0):.2f} s)  "
            f"worst recovery {worst:5.2f} s (client {who}; "
            + ", ".join(f"{name} {t:.2f}" for name, t in parts.items())
            + ")"
            + (f"  [{fault.note}]" if fault.note else "")
        )
        if worst > RECOVERY_LIMIT:
            slow = [(i, round(t, 1), recoveries[i][2]) for t, i in reversed(times) if t > RECOVERY_LIMIT]
            problems.append(f"{fault.name}: {len(slow)} clients not back within {RECOVERY_LIMIT:g} s: {slow[:6]}")
            problems += sends_around(run.clients[who], fault)
    return lines + problems


def test_every_acknowledged_dm_reaches_each_recipient_once_in_order_through_every_fault_at_scale(tmp_path):
    began = time.monotonic()
    database = Database(prefix="instaclone_scale").migrate(server_env())
    redis_set = pg_proxy = None
    nodes: list[Node] = []
    try:
        redis_set = RedisSet(sentinel=SENTINEL, down_after_ms=DOWN_AFTER_MS)
        pg_proxy = TcpProxy("127.0.0.1", 5432).start()
        people = create_people(database, CLIENTS)
        env = server_env(
            DATABASE_URL=database.url.replace(":5432/", f":{pg_proxy.port}/"),
            REDIS_URL=redis_set.url,
            CHANNEL_PREFIX=f"scale-{uuid.uuid4().hex[:8]}",
            CACHE_PREFIX=f"scale-{uuid.uuid4().hex[:8]}",
            THROTTLE_RATES="anon=off,user=off,register=off,login=off,message=off",
            LOG_LEVEL="WARNING",
        )
        nodes = [Node(env, log_dir=tmp_path, backlog=1024) for _ in range(2)]
        for node in nodes:
            node.start()
        print(f"set-up in {time.monotonic() - began:.1f} s (redis: {'sentinel' if SENTINEL else 'plain'})")
        run, faults = asyncio.run(scenario(nodes, redis_set, pg_proxy, people))
        with psycopg.connect(database.url) as conn:
            stored = conn.execute(
                "SELECT count(*), count(DISTINCT (sender_id, client_id)) FROM chat_message"
            ).fetchone()
    finally:
        for node in nodes:
            node.kill()
        if pg_proxy is not None:
            pg_proxy.close()
        if redis_set is not None:
            redis_set.close()
        database.drop()

    dump(run, faults, tmp_path / "run.json")
    pg = next(f for f in faults if f.name == "postgres cut")
    answered = [b for _, b, status, _ in run.responses if status >= 500] + [
        at for c in run.clients for at, _ in c.server_errors
    ]
    if answered:
        pg.note = f"the last 503 {max(answered) - pg.end:+.2f} s after the restore"
    lines = report(run, faults, (pg.start, pg.end + PG_MARGIN))
    acked = {s.message_id for s in run.sends if s.message_id is not None}
    print("\n".join(lines[: len(faults)]))
    print(
        f"{len(run.clients)} clients, {len(run.sends)} DMs ({sum(s.via == 'ws' for s in run.sends)} by socket), "
        f"{len(acked)} acknowledged, {stored[0]} stored; {time.monotonic() - began:.0f} s in all, "
        f"the clients' CPU {resource.getrusage(resource.RUSAGE_SELF).ru_utime:.0f} s; events sent by path "
        f"(node 1 since its restart): {run.paths}"
    )
    problems = lines[len(faults) :]
    if run.stuck:
        problems.append(f"{len(run.stuck)} sockets stuck (a send or close not written in time): {run.stuck[:10]}")
    if stored[0] != stored[1] or stored[0] != len(acked):
        problems.append(f"the database holds {stored[0]} messages ({stored[1]} client_ids) for {len(acked)} acked")
    assert not problems, "\n".join(problems[:40] + [server_log(node) for node in nodes])
