"""The DM path against its reference: one project node and the stock relay (bench/relay/),
alternately on the same core under the same load, with the ratios printed.

Both servers are pinned with `taskset` to one core (`--server-cpu`, default 0) and the load
generator to the other (`--load-cpu`, default 1); PostgreSQL and Redis float, and their CPU
is reported. The project node runs in production mode on a fresh migrated database (dropped
at exit); the relay has no database at all.

Per target, measured in one invocation with the targets interleaved step by step:

1. the highest offered DM rate (open loop, `--sockets` sockets = pairs with a conversation
   each, `--window` seconds a step) with nothing lost, late or duplicated, every ack and
   sender echo in, event ids rising per socket, and p99 under 100 ms; searched upward
   through `--rates` (a failed step is repeated `--retries` times), then bisected once;
2. p50/p99 latency (scheduled send to receipt by the recipient) at `--fixed-rate` DMs/s,
   in runs of its own (`--fixed-repeats`, the median by p99 counts);
3. CPU per DM at that rate: the server process, PostgreSQL (the bench database's backends
   and the auxiliary processes) and Redis, from /proc/<pid>/stat (utime + stime), from the
   window's start until the last DM arrived; database transactions per DM;
4. handshake p99 with `--handshake-sockets` sockets connecting at once (TCP connect to the
   first frame: `hello`; daphne drops a handshake not accepted within 5 s);
5. server memory per idle socket (RSS delta over as many sockets, connected a few at a time
   on the fresh server).

A machine shared with other work gets in the way: before each step the harness waits (up to
`--calm-wait`) for other processes to leave the server core mostly idle, reports how much of
that core they took during the step, and `--nice -10` lets both servers and the load
generator (not PostgreSQL or Redis) take precedence.

    DATABASE_URL=postgres://postgres@localhost:5432/instaclone REDIS_URL=redis://localhost:6379/0 \\
        .venv/bin/python bench/dm_path.py [--target both] [--rates 50,100,200,400] [--window 8] \\
        [--sockets 500] [--json out.json]

`--idle` instead holds `--idle-sockets` idle sockets for `--idle-seconds` and counts the
database transactions and the CPU they cost. `--url [relay=|project=]URL` measures a
running server instead of starting one (its pid is found by its listening port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import pwd
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import httpx
import psycopg
from cryptography.fernet import Fernet
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.servers import ADMIN_URL, DAPHNE, Database, Node, server_env  # noqa: E402
from tests.tcp_proxy import free_port  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
PASSWORD = "correct-horse-battery-9"
BODY = "bench " + "x" * 94  # a 100-character message
P99_LIMIT = 0.100
# The listen queue of both servers (daphne's default of 50 drops most of a burst of
# connects before either application sees them); set by --backlog.
BACKLOG = 1024
perf = time.perf_counter


# --- Processes: CPU, memory, pinning ------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return data[data.rfind(b")") + 2 :].split()  # field 3 (state) is index 0


def cpu_of(pid: int) -> float:
    """utime + stime of the whole process (all its threads), in seconds."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_of(pid: int) -> int:
    return int(_stat(pid)[21]) * PAGE_SIZE


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _pids(uid: int | None = None):
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if uid is None or entry.stat().st_uid == uid:
                    yield int(entry.name)
            except OSError:
                continue


POSTGRES_AUX = (
    "checkpointer",
    "background",
    "walwriter",
    "autovacuum",
    "logical",
    "archiver",
    "startup",
    "stats",
    "io",
)


def postgres_pids(dbname: str | None) -> list[int]:
    """The PostgreSQL server's processes: the postmaster, its auxiliary processes and the
    backends of `dbname` (all backends when it is None). Other databases' backends (other
    people's tests on a shared machine) are left out."""
    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        return []
    found = []
    for pid in _pids(uid):
        title = _cmdline(pid)
        if not title.startswith("postgres: ") or dbname is None:
            found.append(pid)  # the postmaster (its binary path), or everything
            continue
        words = title[len("postgres: ") :].split()
        if words and words[0].endswith(":"):  # the cluster name, "15/main:"
            words = words[1:]
        if not words or words[0] in POSTGRES_AUX or (len(words) > 1 and words[1] == dbname):
            found.append(pid)
    return found


def redis_pids() -> list[int]:
    """The Redis server on REDIS_URL's port, when it runs on this machine."""
    from urllib.parse import urlsplit

    pid = pid_listening(urlsplit(REDIS_URL).port or 6379)
    return [pid] if pid else []


def cpu_sum(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            out[pid] = cpu_of(pid)
        except (OSError, IndexError, ValueError):
            continue
    return out


def pid_listening(port: int) -> int | None:
    """The process listening on TCP `port` (for a server started elsewhere)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in _pids():
        try:
            for fd in os.scandir(f"/proc/{pid}/fd"):
                if os.readlink(fd.path) in inodes:
                    return pid
        except OSError:
            continue
    return None


def pin(pid: int, cpu: int | None) -> None:
    """Pins every thread of `pid` (and the threads it starts later) to one core."""
    if cpu is not None:
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)], check=True, stdout=subprocess.DEVNULL)


def renice(pid: int, niceness: int | None) -> None:
    """Sets the niceness of every thread of `pid` (threads started later inherit it)."""
    if niceness is None:
        return
    for task in os.listdir(f"/proc/{pid}/task"):
        os.setpriority(os.PRIO_PROCESS, int(task), niceness)


def raise_open_files() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def core_busy(cpu: int | None) -> float:
    """Seconds core `cpu` has been busy (not idle, not waiting for I/O), all processes."""
    if cpu is None:
        return 0.0
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                ticks = [int(v) for v in line.split()[1:]]
                return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS
    return 0.0


def listen_overflows() -> int:
    """The kernel's count of connections dropped from full accept queues (all sockets)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=False)).get("ListenOverflows", 0))
    return 0


class Meter:
    """CPU seconds spent by the server, PostgreSQL and Redis between two snapshots.
    PostgreSQL: the postmaster, its auxiliary processes and the backends of `dbname`.
    `others`: what other processes took of the server's core meanwhile (a shared machine)."""

    server_core: int | None = None
    server_pids: set[int] = set()  # every server under test: one idle server is not "others"

    def __init__(self, server_pid: int | None, dbname: str | None):
        self.server_pid = server_pid
        self.dbname = dbname
        self.redis = redis_pids()

    def snapshot(self) -> dict:
        return {
            "t": perf(),
            "core": core_busy(self.server_core),
            "server": cpu_sum([self.server_pid] if self.server_pid else []),
            "pg": cpu_sum(postgres_pids(self.dbname)),
            "redis": cpu_sum(self.redis),
        }

    @staticmethod
    def delta(a: dict, b: dict) -> dict:
        # A process that started in between counts from zero; one that ended is lost.
        out = {k: sum(v - a[k].get(pid, 0.0) for pid, v in b[k].items()) for k in ("server", "pg", "redis")}
        out["wall"] = b["t"] - a["t"]
        out["others"] = max(0.0, b["core"] - a["core"] - out["server"]) if Meter.server_core is not None else None
        return out


def db_counters(dbname: str | None) -> dict | None:
    """Transactions and tuples of one database so far (pg_stat_database; its counters reach
    the view within about a second of each transaction)."""
    if not dbname:
        return None
    conn = psycopg.connect(f"{ADMIN_URL.rsplit('/', 1)[0]}/postgres", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT xact_commit + xact_rollback, tup_returned + tup_fetched, tup_inserted + tup_updated + tup_deleted "
                "FROM pg_stat_database WHERE datname = %s",
                [dbname],
            )
            row = cur.fetchone()
    finally:
        conn.close()
    return {"xacts": row[0], "tuples_read": row[1], "tuples_written": row[2]} if row else None


def counters_delta(a: dict | None, b: dict | None) -> dict | None:
    return {k: b[k] - a[k] for k in a} if a and b else None


async def calm(args) -> float:
    """On a shared machine: waits until other processes leave the server's core mostly free
    (under `--calm` of it over a second), at most `--calm-wait` seconds. Returns the wait."""
    if Meter.server_core is None or args.calm >= 1:
        return 0.0
    started = perf()
    while perf() - started < args.calm_wait:
        before, server0, at = core_busy(Meter.server_core), sum(cpu_sum(list(Meter.server_pids)).values()), perf()
        await asyncio.sleep(1.0)
        busy = core_busy(Meter.server_core) - before
        ours = sum(cpu_sum(list(Meter.server_pids)).values()) - server0
        if (busy - ours) / (perf() - at) < args.calm:
            break
    return perf() - started


async def quiesce(pid: int | None, *, idle_share: float = 0.05, span: float = 1.0, limit: float = 180.0) -> float:
    """Waits until the server is done with what came before: under `idle_share` of a core
    over `span` seconds, or steady below half a core for three spans (idle sockets have a
    cost of their own: the node's periodic log checks). Returns the seconds waited."""
    if not pid:
        await asyncio.sleep(span)
        return span
    started = perf()
    shares: list[float] = []
    before, at = cpu_of(pid), perf()
    while perf() - started < limit:
        await asyncio.sleep(span)
        now, t = cpu_of(pid), perf()
        shares.append((now - before) / (t - at))
        before, at = now, t
        recent = shares[-3:]
        if shares[-1] < idle_share or (len(recent) == 3 and max(recent) < 0.5 and max(recent) - min(recent) < 0.05):
            break
    return perf() - started


# --- The servers ---------------------------------------------------------------------------


class Relay:
    """The stock relay (bench/relay/) under daphne."""

    def __init__(self, prefix: str):
        self.port = free_port()
        self.log_path = Path("/tmp") / f"relay-{self.port}.log"
        env = {**os.environ, "REDIS_URL": REDIS_URL, "RELAY_PREFIX": prefix, "PYTHONUNBUFFERED": "1"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.pop("PYTHONPATH", None)  # none of the project's code
        self.env = env
        self.process: subprocess.Popen | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Relay:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [DAPHNE, "-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog={BACKLOG}", "relay.asgi:application"],
            cwd=HERE,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the relay exited early; see {self.log_path}")
            try:
                urllib.request.urlopen(self.http + "/healthz", timeout=1)  # noqa: S310
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the relay did not start; see {self.log_path}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class Target:
    """One server under test and the users it knows."""

    def __init__(self, name: str, http: str, pid: int | None, dbname: str | None = None):
        self.name = name
        self.http = http.rstrip("/")
        self.ws = self.http.replace("http", "ws", 1) + "/ws/"
        self.pid = pid
        self.dbname = dbname
        self.users: list[dict] = []  # {"id", "token"}; pairs (2i, 2i+1)
        self.conversations: list[int] = []  # one per pair
        self.relay = name == "relay"
        # The relay has no database: only PostgreSQL's own processes count for it ("-" names
        # no database). A server given by --url without its database: every backend counts.
        self.meter = Meter(pid, "-" if self.relay else dbname)

    def connect_args(self, user: dict) -> tuple[str, dict]:
        if self.relay:
            return f"{self.ws}?token={user['id']}", {}
        return self.ws, {"Authorization": f"Token {user['token']}"}

    def frame(self, user: dict, partner: dict, conversation: int, client_id: str) -> str:
        # Built by hand: the load generator's JSON work is kept minimal.
        if self.relay:
            return (
                f'{{"type":"message.send","ref":"{client_id}","to":{partner["id"]},"conversation":{conversation},'
                f'"body":"{BODY}","client_id":"{client_id}"}}'
            )
        return f'{{"type":"message.send","ref":"{client_id}","conversation":{conversation},"body":"{BODY}","client_id":"{client_id}"}}'


async def register_users(target: Target, count: int, concurrency: int = 8) -> None:
    """Registers `count` users over REST and opens one conversation per pair (set-up, not
    measured). The relay takes any user id."""
    if target.relay:
        base = 1 + (uuid.uuid4().int % 10**6) * 10**4  # fresh groups on a shared relay
        target.users = [{"id": base + i} for i in range(count)]
        target.conversations = list(range(1, count // 2 + 1))
        return
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=target.http, timeout=120) as http:

        async def post(path: str, body: dict, headers: dict | None = None) -> dict:
            # Set-up on a shared machine: a 503 (the database busy) or a dropped connection is retried.
            for attempt in range(8):
                try:
                    async with gate:
                        r = await http.post(path, json=body, headers=headers)
                    if r.status_code < 500:
                        r.raise_for_status()
                        return r.json()
                except httpx.TransportError:
                    if attempt == 7:
                        raise
                await asyncio.sleep(2**attempt / 4)
            r.raise_for_status()
            return r.json()

        async def register(i: int) -> dict:
            name = f"d{uuid.uuid4().hex[:12]}"
            body = await post(
                "/api/auth/register", {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
            )
            return {"id": body["user"]["id"], "token": body["token"], "username": name}

        async def open_conversation(a: dict, b: dict) -> int:
            body = await post(
                "/api/conversations", {"usernames": [b["username"]]}, {"Authorization": f"Token {a['token']}"}
            )
            return body["id"]

        target.users = list(await asyncio.gather(*(register(i) for i in range(count))))
        pairs = [(target.users[2 * i], target.users[2 * i + 1]) for i in range(count // 2)]
        target.conversations = list(await asyncio.gather(*(open_conversation(a, b) for a, b in pairs)))


# --- The load ------------------------------------------------------------------------------


class Step:
    """One offered-rate window: DM k is sent by socket k % n to its partner at t0 + k/rate."""

    def __init__(self, tag: str, rate: float, window: float):
        self.tag = tag
        self.rate = rate
        self.window = window
        self.total = max(1, round(rate * window))
        self.t0 = 0.0
        self.recv = [0.0] * self.total  # receipt time by the recipient, 0 until then
        self.echo = bytearray(self.total)  # the sender's own copy of message.new
        self.received = self.echoed = self.acks = self.dups = self.misrouted = 0
        self.last_rx = 0.0
        self.lag: list[float] = []  # send time - scheduled time, before any in-flight wait
        self.capped = 0  # sends that waited for the in-flight cap
        self.done = asyncio.Event()  # every DM received, echoed and acked

    def due(self, k: int) -> float:
        return self.t0 + k / self.rate

    @property
    def complete(self) -> bool:
        return self.received == self.total and self.echoed == self.total and self.acks == self.total

    def check(self) -> None:
        if self.complete:
            self.done.set()


class Sock:
    __slots__ = (
        "index",
        "user",
        "partner",
        "conversation",
        "ws",
        "last_eid",
        "inflight",
        "slot",
        "ready",
        "reader",
        "opened_in",
    )

    def __init__(self, index: int, user: dict, partner: dict | None, conversation: int | None):
        self.index = index
        self.user = user
        self.partner = partner
        self.conversation = conversation
        self.ws = None
        self.last_eid = 0
        self.inflight = 0
        self.slot = asyncio.Event()
        self.ready = asyncio.Event()
        self.reader: asyncio.Task | None = None
        self.opened_in = math.inf  # TCP connect start to the first frame, seconds


class Fleet:
    """`n` sockets to one target: socket i is user i (mod the users), paired with i ^ 1."""

    def __init__(self, target: Target, n: int, *, pairs: bool = True):
        self.target = target
        self.n = n
        users = target.users
        self.socks = []
        for i in range(n):
            user = users[i % len(users)]
            if pairs:
                self.socks.append(
                    Sock(i, user, users[(i ^ 1) % len(users)], target.conversations[(i % len(users)) // 2])
                )
            else:
                self.socks.append(Sock(i, user, None, None))
        self.step: Step | None = None
        self.order_violations = 0
        self.stale = 0
        self.errors: list = []
        self.unexpected_closes = 0
        self.failed_connects = 0
        self.closing = False

    async def _open_one(self, sock: Sock, gate: asyncio.Semaphore | None) -> None:
        url, headers = self.target.connect_args(sock.user)

        async def go():
            started = perf()
            sock.ws = await connect(
                url,
                additional_headers=headers,
                compression=None,
                ping_interval=None,
                max_size=None,
                open_timeout=120,
                close_timeout=5,
                proxy=None,  # no proxy lookup: it reads the environment per call
            )
            sock.reader = asyncio.create_task(self._read(sock))
            await asyncio.wait_for(sock.ready.wait(), 120)
            sock.opened_in = perf() - started

        try:
            if gate is None:
                await go()
            else:
                async with gate:
                    await go()
        except Exception as exc:  # noqa: BLE001 - counted and reported
            self.failed_connects += 1
            if len(self.errors) < 20:
                self.errors.append(f"connect: {exc!r}")

    async def open(self, concurrency: int | None = 100, retries: int = 0) -> None:
        """Connects every socket, `concurrency` at a time (None: all at once). A failed
        connect is retried `retries` times (set-up: the handshake is not what is measured)."""
        gate = asyncio.Semaphore(concurrency) if concurrency else None
        todo = self.socks
        for attempt in range(retries + 1):
            await asyncio.gather(*(self._open_one(s, gate) for s in todo))
            todo = [s for s in self.socks if s.ws is None or not s.ready.is_set()]
            if not todo or attempt == retries:
                break
            for s in todo:
                if s.reader is not None:
                    s.reader.cancel()
                s.ws, s.reader = None, None
            self.failed_connects -= len(todo)
            self.errors = [e for e in self.errors if not str(e).startswith("connect:")]
            self.unexpected_closes = 0
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        self.closing = True
        await asyncio.gather(*(s.ws.close() for s in self.socks if s.ws is not None), return_exceptions=True)
        for s in self.socks:
            if s.reader is not None:
                s.reader.cancel()
        await asyncio.gather(*(s.reader for s in self.socks if s.reader is not None), return_exceptions=True)

    async def _read(self, sock: Sock) -> None:
        loads = json.loads
        n = self.n
        try:
            async for raw in sock.ws:
                now = perf()
                frame = loads(raw)
                kind = frame.get("type")
                if kind == "event":
                    eid = frame.get("id")
                    if eid is not None:
                        if eid <= sock.last_eid:
                            self.order_violations += 1
                        else:
                            sock.last_eid = eid
                    if frame.get("event") != "message.new":
                        continue
                    st = self.step
                    cid = frame["data"].get("client_id") or ""
                    if st is None or not cid.startswith(st.tag):
                        self.stale += 1
                        continue
                    k = int(cid[len(st.tag) :])
                    sender = k % n
                    if sock.index == sender:
                        if st.echo[k]:
                            st.dups += 1
                        else:
                            st.echo[k] = 1
                            st.echoed += 1
                            if st.echoed == st.total:
                                st.check()
                    elif sock.index == sender ^ 1:
                        if st.recv[k]:
                            st.dups += 1
                        else:
                            st.recv[k] = now
                            st.received += 1
                    else:
                        st.misrouted += 1
                    st.last_rx = now
                    if st.received == st.total:
                        st.check()
                elif kind == "ack":
                    sock.inflight -= 1
                    sock.slot.set()
                    st = self.step
                    if st is not None and str(frame.get("ref", "")).startswith(st.tag):
                        st.acks += 1
                        if st.acks == st.total:
                            st.check()
                elif kind == "hello":
                    sock.last_eid = frame.get("last_event_id") or 0
                    sock.ready.set()
                elif kind == "error":
                    if len(self.errors) < 20:
                        self.errors.append(frame)
                    else:
                        self.errors.append(None)
        except ConnectionClosed:
            pass
        finally:
            if not self.closing:
                self.unexpected_closes += 1
                if len(self.errors) < 20:
                    self.errors.append(f"socket {sock.index} closed: {sock.ws.close_code} {sock.ws.close_reason}")

    async def _send(self, sock: Sock, st: Step, cap: int) -> None:
        frame = self.target.frame
        for k in range(sock.index, st.total, self.n):
            due = st.due(k)
            delay = due - perf()
            if delay > 0:
                await asyncio.sleep(delay)
            st.lag.append(perf() - due)
            if sock.inflight >= cap:
                st.capped += 1
                while sock.inflight >= cap:
                    sock.slot.clear()
                    await sock.slot.wait()
            sock.inflight += 1
            try:
                await sock.ws.send(frame(sock.user, sock.partner, sock.conversation, f"{st.tag}{k}"))
            except ConnectionClosed:
                return


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`; inf entries stand for lost DMs."""
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(value: float) -> float | None:
    return None if value is None or math.isinf(value) else round(value * 1000, 2)


async def run_step(target: Target, rate: float, args, tag: str) -> dict:
    """Opens a fresh fleet, offers `rate` DMs/s for the window, waits for every DM (or the
    deadline) and measures. The server is idle before and after."""
    fleet = Fleet(target, args.sockets)
    await fleet.open(concurrency=25, retries=3)
    await asyncio.sleep(args.settle)
    await quiesce(target.pid)
    waited = await calm(args)
    st = Step(tag, rate, args.window)
    fleet.step = st
    db0 = db_counters(target.dbname)
    m0 = target.meter.snapshot()
    load0 = time.process_time()
    if args.verbose:
        print(f"    {target.name} (pid {target.pid}): sending {rate:g} DMs/s for {args.window:g} s", flush=True)
    st.t0 = perf() + 0.05
    await asyncio.gather(*(fleet._send(s, st, args.inflight) for s in fleet.socks if s.ws is not None))
    window_end = st.t0 + st.total / rate
    deadline = window_end + args.deadline
    try:
        await asyncio.wait_for(st.done.wait(), max(0.0, deadline - perf()))
    except TimeoutError:
        pass
    on_time = st.complete
    # For the CPU: the work of every DM, so wait for late ones too (or until the server is idle).
    if not on_time:
        cap = perf() + args.drain_limit
        last_cpu, at = target.meter.snapshot()["server"], perf()
        while not st.complete and perf() < cap:
            await asyncio.sleep(1.0)
            now_cpu, t = target.meter.snapshot()["server"], perf()
            busy = sum(now_cpu.values()) - sum(last_cpu.values())
            if perf() - st.last_rx > 2.0 and busy / (t - at) < 0.05:
                break
            last_cpu, at = now_cpu, t
    m1 = target.meter.snapshot()
    load_cpu = time.process_time() - load0
    await asyncio.sleep(1.2)  # pg_stat_database catches up
    db1 = db_counters(target.dbname)
    await fleet.close()
    await quiesce(target.pid, limit=args.drain_limit)

    # Latency as it was, late arrivals included; a DM never received counts as infinite.
    latencies = [(r - st.due(k)) if r else math.inf for k, r in enumerate(st.recv)]
    lost = sum(1 for r in st.recv if not r)
    late = sum(1 for r in st.recv if r > deadline)
    cpu = Meter.delta(m0, m1)
    done = max(1, st.received)
    db = counters_delta(db0, db1)
    p99 = percentile(latencies, 0.99)
    result = {
        "target": target.name,
        "rate": rate,
        "window_s": args.window,
        "sockets": args.sockets,
        "sent": st.total,
        "received": st.received,
        "lost": lost,
        "late": late,
        "dups": st.dups,
        "echo_missing": st.total - st.echoed,
        "ack_missing": st.total - st.acks,
        "misrouted": st.misrouted,
        "order_violations": fleet.order_violations,
        "errors": len(fleet.errors),
        "error_samples": [str(e) for e in fleet.errors[:3]],
        "failed_connects": fleet.failed_connects,
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(p99),
        "max_ms": ms(max(latencies)),
        "server_cpu_us_per_dm": round(cpu["server"] / done * 1e6, 1),
        "pg_cpu_us_per_dm": round(cpu["pg"] / done * 1e6, 1),
        "redis_cpu_us_per_dm": round(cpu["redis"] / done * 1e6, 1),
        "server_cpu_share": round(cpu["server"] / cpu["wall"], 3),
        "measured_s": round(cpu["wall"], 2),
        "db_xacts_per_dm": round(db["xacts"] / done, 2) if db else None,
        "others_on_server_core_share": None if cpu["others"] is None else round(cpu["others"] / cpu["wall"], 3),
        "load_cpu_share": round(load_cpu / cpu["wall"], 3),
        "load_cpu_us_per_dm": round(load_cpu / done * 1e6, 1),
        "load_lag_p99_ms": ms(percentile(st.lag, 0.99)),
        "capped_sends": st.capped,
        "waited_for_calm_s": round(waited, 1),
    }
    result["passed"] = (
        lost == 0
        and late == 0
        and st.dups == 0
        and st.misrouted == 0
        and result["echo_missing"] == 0
        and result["ack_missing"] == 0
        and fleet.order_violations == 0
        and not fleet.errors
        and not fleet.failed_connects
        and p99 < P99_LIMIT
    )
    return result


def step_line(r: dict) -> str:
    p = lambda v: "inf" if v is None else f"{v:.1f}"  # noqa: E731
    flags = (
        ""
        if r["passed"]
        else "  <- "
        + ", ".join(
            f"{k} {r[k]}"
            for k in (
                "lost",
                "late",
                "dups",
                "echo_missing",
                "ack_missing",
                "misrouted",
                "order_violations",
                "errors",
                "failed_connects",
            )
            if r[k]
        )
        + (f"; {r['error_samples'][0]}" if r["error_samples"] else "")
    )
    others = (
        "" if r["others_on_server_core_share"] is None else f", others {100 * r['others_on_server_core_share']:.0f}%"
    )
    return (
        f"  {r['target']:<7} {r['rate']:>6g}/s x {r['window_s']:g}s: {'pass' if r['passed'] else 'FAIL'}  "
        f"p50 {p(r['p50_ms'])} ms  p99 {p(r['p99_ms'])} ms  server {r['server_cpu_us_per_dm']:.0f} us/DM "
        f"({100 * r['server_cpu_share']:.0f}% core{others})  pg {r['pg_cpu_us_per_dm']:.0f}  redis {r['redis_cpu_us_per_dm']:.0f} us/DM  "
        f"load {100 * r['load_cpu_share']:.0f}% core, lag p99 {p(r['load_lag_p99_ms'])} ms"
        + (f"  (waited {r['waited_for_calm_s']:.0f} s for a calm core)" if r["waited_for_calm_s"] >= 2 else "")
        + flags
    )


async def warm_up(target: Target) -> None:
    """A few sockets come and go first: the code paths load and the caches fill, so the
    memory that follows is the sockets'."""
    warm = Fleet(target, min(10, len(target.users)), pairs=False)
    await warm.open()
    await warm.close()
    await quiesce(target.pid)


async def memory_test(target: Target, n: int, args) -> dict:
    """The server's RSS for `n` idle sockets (connected a few at a time), per socket. First
    thing on a fresh server: memory a process once held is reused, not counted again."""
    await warm_up(target)
    rss0 = rss_of(target.pid) if target.pid else None
    fleet = Fleet(target, n, pairs=False)
    await fleet.open(concurrency=25, retries=3)
    await asyncio.sleep(args.settle)
    await quiesce(target.pid)
    rss1 = rss_of(target.pid) if target.pid else None
    connected = sum(1 for s in fleet.socks if s.ready.is_set())
    await fleet.close()
    await quiesce(target.pid)
    return {
        "memory_sockets": connected,
        "rss_kib_per_socket": round((rss1 - rss0) / connected / 1024, 1) if target.pid and connected else None,
    }


async def handshake_test(target: Target, n: int, args) -> dict:
    """`n` sockets connecting at once: TCP connect start to the first frame (`hello`)."""
    fleet = Fleet(target, n, pairs=False)
    await quiesce(target.pid)
    waited = await calm(args)
    overflows = listen_overflows()
    await fleet.open(concurrency=None)
    overflows = listen_overflows() - overflows
    times = [s.opened_in for s in fleet.socks]
    await fleet.close()
    await quiesce(target.pid)
    return {
        "target": target.name,
        "sockets": n,
        "failed": fleet.failed_connects,
        "p50_ms": ms(percentile(times, 0.50)),
        "p99_ms": ms(percentile(times, 0.99)),
        "max_ms": ms(max(times)),
        "ok_p99_ms": ms(percentile([t for t in times if not math.isinf(t)], 0.99)),
        "listen_overflows": overflows,
        "error_samples": [str(e) for e in fleet.errors[:3]],
        "waited_for_calm_s": round(waited, 1),
    }


async def idle_test(target: Target, n: int, seconds: float, args) -> dict:
    """`n` idle sockets for `seconds`: database transactions and CPU they cost."""
    await warm_up(target)
    rss0 = rss_of(target.pid) if target.pid else None
    fleet = Fleet(target, n, pairs=False)
    started = perf()
    await fleet.open(concurrency=50)  # daphne drops a handshake the app has not accepted in 5 s
    connect_s = perf() - started
    await asyncio.sleep(args.settle)
    await quiesce(target.pid)
    await asyncio.sleep(1.2)
    db0, m0 = db_counters(target.dbname), target.meter.snapshot()
    await asyncio.sleep(seconds)
    m1 = target.meter.snapshot()
    await asyncio.sleep(1.2)
    db1 = db_counters(target.dbname)
    rss1 = rss_of(target.pid) if target.pid else None
    open_now = sum(1 for s in fleet.socks if s.ws is not None and s.reader is not None and not s.reader.done())
    await fleet.close()
    cpu, db = Meter.delta(m0, m1), counters_delta(db0, db1)
    return {
        "target": target.name,
        "sockets": n,
        "seconds": seconds,
        "connect_s": round(connect_s, 1),
        "failed_connects": fleet.failed_connects,
        "still_open": open_now,
        "frames_received": fleet.stale,
        "db": db,
        "db_xacts_per_socket_minute": round(db["xacts"] / n / (cpu["wall"] / 60), 3) if db else None,
        "server_cpu_share": round(cpu["server"] / cpu["wall"], 4),
        "pg_cpu_share": round(cpu["pg"] / cpu["wall"], 4),
        "redis_cpu_share": round(cpu["redis"] / cpu["wall"], 4),
        "rss_kib_per_socket": round((rss1 - rss0) / n / 1024, 1) if target.pid else None,
        "errors": [str(e) for e in fleet.errors[:3]],
    }


# --- The run -------------------------------------------------------------------------------


async def search(targets: list[Target], args, run_id: str) -> tuple[dict, list[dict]]:
    """Offered-rate steps upward, the targets interleaved per step, until each fails (a
    failure is retried `--retries` times); then one bisection between the last pass and the
    first failure. Returns the highest passing rate per target and every step."""
    steps: list[dict] = []
    best: dict[str, float] = {t.name: 0.0 for t in targets}
    failed_at: dict[str, float] = {}
    counter = 0

    async def attempt(target: Target, rate: float) -> bool:
        nonlocal counter
        for _ in range(1 + args.retries):
            counter += 1
            result = await run_step(target, rate, args, f"{run_id}s{counter}.")
            steps.append(result)
            print(step_line(result), flush=True)
            if result["passed"]:
                return True
        return False

    for rate in args.rates:
        active = [t for t in targets if t.name not in failed_at]
        if not active:
            break
        for target in active:
            if await attempt(target, rate):
                best[target.name] = rate
            else:
                failed_at[target.name] = rate
    for target in targets:
        low, high = best[target.name], failed_at.get(target.name)
        if high is not None:
            mid = round((low + high) / 2)
            if low < mid < high and await attempt(target, mid):
                best[target.name] = mid
    return best, steps


def ratio(project, relay) -> float | None:
    if project is None or relay is None or relay == 0 or math.isinf(project) or math.isinf(relay):
        return None
    return project / relay


def report(summary: dict, targets: list[str]) -> tuple[str, dict]:
    rows = [
        ("highest sustained DM rate (DMs/s)", "rate", "{:.0f}"),
        (f"p50 latency at {summary['fixed_rate']:g}/s (ms)", "fixed_p50_ms", "{:.1f}"),
        (f"p99 latency at {summary['fixed_rate']:g}/s (ms)", "fixed_p99_ms", "{:.1f}"),
        (f"lost at {summary['fixed_rate']:g}/s (DMs never delivered)", "fixed_lost", "{:.0f}"),
        (
            f"late at {summary['fixed_rate']:g}/s (delivered > {summary['deadline']:g} s after the window)",
            "fixed_late",
            "{:.0f}",
        ),
        ("server CPU per DM (us)", "server_cpu_us_per_dm", "{:.0f}"),
        ("PostgreSQL CPU per DM (us)", "pg_cpu_us_per_dm", "{:.0f}"),
        ("Redis CPU per DM (us)", "redis_cpu_us_per_dm", "{:.0f}"),
        ("database transactions per DM", "db_xacts_per_dm", "{:.2f}"),
        ("rate the server CPU per DM allows (DMs/s)", "cpu_bound_rate", "{:.0f}"),
        (f"handshake p99, {summary['handshake_sockets']} at once (ms)", "handshake_p99_ms", "{:.0f}"),
        ("  p99 of the handshakes that completed (ms)", "handshake_ok_p99_ms", "{:.0f}"),
        ("  handshakes failed", "handshake_failed", "{:.0f}"),
        ("server memory per idle socket (KiB)", "rss_kib_per_socket", "{:.1f}"),
    ]
    fmt = lambda v, f: "-" if v is None else ("inf" if isinstance(v, float) and math.isinf(v) else f.format(v))  # noqa: E731
    width = max(len(label) for label, _, _ in rows)
    lines = [f"{'metric':<{width}} {'relay':>10} {'project':>10} {'project/relay':>14}"]
    for label, key, f in rows:
        rv = summary["relay"].get(key) if "relay" in targets else None
        pv = summary["project"].get(key) if "project" in targets else None
        if rv is None and pv is None:
            continue
        r = ratio(pv, rv)
        lines.append(f"{label:<{width}} {fmt(rv, f):>10} {fmt(pv, f):>10} {'-' if r is None else f'{r:.2f}x':>14}")
    verdict = {}
    if set(targets) == {"relay", "project"}:
        rel, pro = summary["relay"], summary["project"]
        r_rate = ratio(pro.get("rate"), rel.get("rate"))
        r_p99 = ratio(pro.get("fixed_p99_ms"), rel.get("fixed_p99_ms"))
        r_cpu = ratio(pro.get("server_cpu_us_per_dm"), rel.get("server_cpu_us_per_dm"))
        r_hs = ratio(pro.get("handshake_p99_ms"), rel.get("handshake_p99_ms"))
        p99 = pro.get("fixed_p99_ms")
        verdict = {
            "rate >= 1.0x relay": r_rate is not None and r_rate >= 1.0,
            f"p99 at {summary['fixed_rate']:g}/s <= 2x relay and < 25 ms": r_p99 is not None
            and r_p99 <= 2.0
            and p99 is not None
            and p99 < 25,
            "server CPU per DM <= 1.5x relay": r_cpu is not None and r_cpu <= 1.5,
            "handshake p99 <= 2x relay": r_hs is not None and r_hs <= 2.0,
        }
        lines.append("")
        lines.append("targets: " + "; ".join(f"{k}: {'MET' if v else 'NOT MET'}" for k, v in verdict.items()))
    return "\n".join(lines), verdict


def summarise(name: str, best: float, steps: list[dict], fixed: dict | None, hs: dict | None) -> dict:
    out = {"rate": best}
    if fixed:
        out.update(
            fixed_p50_ms=math.inf if fixed["p50_ms"] is None else fixed["p50_ms"],
            fixed_p99_ms=math.inf if fixed["p99_ms"] is None else fixed["p99_ms"],
            fixed_lost=fixed["lost"],
            fixed_late=fixed["late"],
            server_cpu_us_per_dm=fixed["server_cpu_us_per_dm"],
            pg_cpu_us_per_dm=fixed["pg_cpu_us_per_dm"],
            redis_cpu_us_per_dm=fixed["redis_cpu_us_per_dm"],
            db_xacts_per_dm=fixed["db_xacts_per_dm"],
            cpu_bound_rate=round(1e6 / fixed["server_cpu_us_per_dm"]) if fixed["server_cpu_us_per_dm"] else None,
        )
    if hs:
        out.update(
            handshake_p99_ms=math.inf if hs["p99_ms"] is None else hs["p99_ms"],
            handshake_p50_ms=hs["p50_ms"],
            handshake_ok_p99_ms=hs["ok_p99_ms"],
            handshake_failed=hs["failed"],
            rss_kib_per_socket=hs["rss_kib_per_socket"],
        )
    return out


class CommitProbe(threading.Thread):
    """The floor under any durable write: the latency of one tiny INSERT committed with
    `synchronous_commit` on (its disk flush), sampled every 20 ms on the same PostgreSQL
    while the fixed-rate runs go on."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.running = True

    def run(self):
        with psycopg.connect(f"{ADMIN_URL.rsplit('/', 1)[0]}/postgres", autocommit=True) as conn:
            conn.execute("CREATE TEMP TABLE commit_probe (x int)")
            while self.running:
                started = perf()
                conn.execute("INSERT INTO commit_probe VALUES (1)")
                self.samples.append((perf() - started) * 1000)
                time.sleep(0.02)

    def figures(self) -> dict:
        ordered = sorted(self.samples)
        if not ordered:
            return {}
        return {"commit_p50_ms": ordered[len(ordered) // 2], "commit_p99_ms": ordered[int(len(ordered) * 0.99) - 1]}


async def bench(targets: list[Target], args) -> dict:
    run_id = uuid.uuid4().hex[:6]
    names = [t.name for t in targets]
    handshakes = {}
    if args.handshake_sockets:
        print(f"memory: {args.handshake_sockets} idle sockets, connected 25 at a time", flush=True)
        for t in targets:
            handshakes[t.name] = mem = await memory_test(t, args.handshake_sockets, args)
            print(
                f"  {t.name:<7} RSS {mem['rss_kib_per_socket']} KiB per socket over {mem['memory_sockets']} sockets",
                flush=True,
            )
        print(f"handshake: {args.handshake_sockets} sockets at once", flush=True)
        for t in targets:
            hs = await handshake_test(t, args.handshake_sockets, args)
            handshakes[t.name].update(hs)
            print(
                f"  {t.name:<7} p50 {hs['p50_ms']} ms  p99 {hs['p99_ms']} ms (of those that connected: {hs['ok_p99_ms']} ms)  "
                f"failed {hs['failed']}  accept-queue overflows {hs['listen_overflows']}"
                + (f"  ({hs['error_samples'][0]})" if hs["error_samples"] else ""),
                flush=True,
            )
    print(
        f"rate search: {args.sockets} sockets, steps {', '.join(f'{r:g}' for r in args.rates)} DMs/s, {args.window:g} s each",
        flush=True,
    )
    best, steps = await search(targets, args, run_id)
    print(
        f"fixed rate: {args.fixed_rate:g} DMs/s, {args.fixed_repeats} run(s) each, interleaved; the median by p99 counts",
        flush=True,
    )
    runs: dict[str, list[dict]] = {t.name: [] for t in targets}
    probe = CommitProbe()
    probe.start()
    for i in range(args.fixed_repeats):
        for t in targets:
            result = await run_step(t, args.fixed_rate, args, f"{run_id}f{i}{t.name[0]}.")
            result["fixed"] = True
            steps.append(result)
            runs[t.name].append(result)
            print(step_line(result), flush=True)
    probe.running = False
    probe.join()
    floor = probe.figures()
    if floor:
        print(
            f"durable commit floor meanwhile (PostgreSQL, one INSERT, synchronous_commit on): "
            f"p50 {floor['commit_p50_ms']:.1f} ms  p99 {floor['commit_p99_ms']:.1f} ms",
            flush=True,
        )
    fixed = {}
    for name, results in runs.items():
        ordered = sorted(results, key=lambda r: math.inf if r["p99_ms"] is None else r["p99_ms"])
        fixed[name] = ordered[(len(ordered) - 1) // 2]
    summary = {
        "fixed_rate": args.fixed_rate,
        "handshake_sockets": args.handshake_sockets,
        "deadline": args.deadline,
        **floor,
    }
    for t in targets:
        summary[t.name] = summarise(t.name, best[t.name], steps, fixed.get(t.name), handshakes.get(t.name))
    for name in ("relay", "project"):
        summary.setdefault(name, {})
    table, verdict = report(summary, names)
    # The load generator's own cost, from the busiest steps that delivered everything.
    costs = sorted((s["rate"], s["load_cpu_us_per_dm"]) for s in steps if s["lost"] == 0)
    lags = [s["load_lag_p99_ms"] or 0.0 for s in steps]
    if costs:
        rate, us = costs[-1]
        summary["load_cpu_us_per_dm"] = us
        table += (
            f"\nload generator: {us:.0f} us CPU per DM at {rate:g}/s, so one core drives about {1e6 / us:.0f} DMs/s "
            f"(its sends' lag behind schedule, p99 per step: median {statistics.median(lags):.1f} ms, worst {max(lags):.1f} ms)"
        )
    return {"summary": summary, "verdict": verdict, "steps": steps, "handshakes": handshakes, "table": table}


def parse_urls(values: list[str] | None, target: str) -> dict[str, str]:
    urls = {}
    for value in values or []:
        name, sep, url = value.partition("=")
        if sep and name in ("relay", "project"):
            urls[name] = url
        elif target in ("relay", "project"):
            urls[target] = value
        else:
            raise SystemExit("--url: with --target both, write relay=URL or project=URL")
    return urls


def main(argv=None) -> int:
    global BACKLOG
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", choices=("relay", "project", "both"), default="both")
    parser.add_argument(
        "--rates",
        default="25,50,100,200,400,600,800,1000,1200,1600,2000",
        help="offered DMs/s, comma-separated, ascending",
    )
    parser.add_argument("--window", type=float, default=8.0, help="seconds of sending per step")
    parser.add_argument("--sockets", type=int, default=500, help="sockets in the load (pairs of users)")
    parser.add_argument("--fixed-rate", type=float, default=200.0, help="DMs/s for the latency and CPU figures")
    parser.add_argument(
        "--fixed-repeats", type=int, default=1, help="runs at the fixed rate per target (the median by p99 counts)"
    )
    parser.add_argument("--handshake-sockets", type=int, default=1000, help="sockets connecting at once (0: skip)")
    parser.add_argument(
        "--deadline", type=float, default=5.0, help="seconds after the window before an undelivered DM counts as lost"
    )
    parser.add_argument(
        "--drain-limit", type=float, default=120.0, help="seconds to wait for an overloaded server's backlog"
    )
    parser.add_argument(
        "--settle", type=float, default=4.0, help="seconds between connecting and sending (the node's first log check)"
    )
    parser.add_argument("--inflight", type=int, default=16, help="unacked sends per socket before the next waits")
    parser.add_argument("--retries", type=int, default=1, help="times a failing step is repeated before it counts")
    parser.add_argument("--users", type=int, help="project users to register (default: --sockets)")
    parser.add_argument(
        "--url", action="append", help="a running server's base http URL, [relay=|project=]URL (repeatable)"
    )
    parser.add_argument(
        "--database", help="with --url: the project server's database name (for its PostgreSQL figures)"
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="core for the servers (taskset)")
    parser.add_argument("--load-cpu", type=int, default=1, help="core for this load generator")
    parser.add_argument("--no-pin", action="store_true", help="no taskset")
    parser.add_argument(
        "--calm",
        type=float,
        default=0.25,
        help="before a step, wait until other processes use under this share of the server core (1: never wait)",
    )
    parser.add_argument("--calm-wait", type=float, default=20.0, help="longest wait for --calm, seconds")
    parser.add_argument(
        "--nice",
        type=int,
        help="niceness for both servers and the load generator, e.g. -10 on a busy shared machine (root); PostgreSQL and Redis keep theirs",
    )
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument(
        "--backlog", type=int, default=BACKLOG, help="both servers' listen queue (daphne's default: 50)"
    )
    parser.add_argument("--idle", action="store_true", help="the idle mode instead: idle sockets and what they cost")
    parser.add_argument("--idle-sockets", type=int, default=2000)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="say when each window starts (to attach a profiler)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    args = parser.parse_args(argv)
    BACKLOG = args.backlog
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if args.sockets < 2 or args.sockets % 2:
        parser.error("--sockets: an even number, at least 2")
    names = ["relay", "project"] if args.target == "both" else [args.target]
    urls = parse_urls(args.url, args.target)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the servers and database go too
    nofile = raise_open_files()
    needed = max(args.sockets, args.handshake_sockets, args.idle_sockets if args.idle else 0) + 100
    if nofile < needed:
        print(f"warning: {nofile} open files allowed, {needed} wanted", file=sys.stderr)
    server_cpu = load_cpu = None
    if not args.no_pin and (os.cpu_count() or 1) > 1:
        server_cpu, load_cpu = args.server_cpu, args.load_cpu
        Meter.server_core = server_cpu
        pin(os.getpid(), load_cpu)
    renice(os.getpid(), args.nice)

    loop_name = "asyncio"
    if not args.no_uvloop:
        try:
            import uvloop

            loop_name = "uvloop"
        except ImportError:
            uvloop = None
    run = (lambda coro: uvloop.run(coro)) if loop_name == "uvloop" else asyncio.run

    database, processes, targets = None, [], []
    try:
        users = args.users or args.sockets
        if args.idle:  # up to 20 sockets a user (tabs), as few users as that allows
            users = args.users or max(20, math.ceil(args.idle_sockets / 20))
        elif args.handshake_sockets > users:
            print(
                f"note: the {args.handshake_sockets} handshake sockets are {users} users' (up to "
                f"{math.ceil(args.handshake_sockets / users)} tabs each), for both targets",
                flush=True,
            )
        for name in names:
            if name in urls:
                port = int(urls[name].rstrip("/").rsplit(":", 1)[1].split("/")[0])
                target = Target(name, urls[name], pid_listening(port), args.database if name == "project" else None)
                run(register_users(target, users))
            elif name == "relay":
                relay = Relay(prefix=f"relay-{uuid.uuid4().hex[:8]}").start()
                processes.append(relay)
                target = Target("relay", relay.http, relay.process.pid)
                run(register_users(target, users))
            else:
                env = server_env(
                    DEBUG="0",
                    HTTPS="0",
                    SECRET_KEY=secrets.token_urlsafe(50),
                    FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
                    ALLOWED_HOSTS="localhost,127.0.0.1",
                    REDIS_URL=REDIS_URL,
                    CHANNEL_PREFIX=f"dmbench-{uuid.uuid4().hex[:8]}",
                    CACHE_PREFIX=f"dmbench-{uuid.uuid4().hex[:8]}",
                    THROTTLE_RATES="message=1000000/min,user=1000000/min,anon=1000000/min,register=1000000/min",
                    WS_RATE_PER_SECOND="1000000",
                    WS_RATE_BURST="1000000",
                )
                database = Database(prefix="instaclone_dmbench").migrate(env)
                env["DATABASE_URL"] = database.url
                # Users are registered through a set-up node on both cores, which then goes:
                # the measured node starts fresh, as the relay does (its memory, its caches).
                started = time.monotonic()
                setup = Node(env, backlog=BACKLOG).start()
                try:
                    target = Target("project", setup.http, None, database.name)
                    run(register_users(target, users))
                finally:
                    setup.kill()
                print(f"project: {users} users registered over REST in {time.monotonic() - started:.0f} s", flush=True)
                node = Node(env, backlog=BACKLOG).start()
                processes.append(node)
                registered = target
                target = Target("project", node.http, node.process.pid, database.name)
                target.users, target.conversations = registered.users, registered.conversations
            if target.pid and name not in urls:
                pin(target.pid, server_cpu)
            if target.pid:
                Meter.server_pids.add(target.pid)
                if name not in urls:
                    renice(target.pid, args.nice)
            targets.append(target)
        print(
            f"servers on core {server_cpu}, load on core {load_cpu} ({loop_name}"
            + ("" if args.nice is None else f", niceness {args.nice}")
            + "); "
            + ", ".join(f"{t.name} pid {t.pid}" for t in targets),
            flush=True,
        )
        if args.idle:
            results = {}
            for t in targets:
                results[t.name] = r = run(idle_test(t, args.idle_sockets, args.idle_seconds, args))
                db = r["db"]
                print(
                    f"idle {t.name}: {r['sockets']} sockets for {r['seconds']:g} s (connected in {r['connect_s']} s, "
                    f"{r['failed_connects']} failed, {r['still_open']} open at the end): "
                    + (
                        f"{db['xacts']} database transactions ({r['db_xacts_per_socket_minute']} per socket-minute), "
                        f"{db['tuples_read']} tuples read; "
                        if db
                        else "no database; "
                    )
                    + f"server {100 * r['server_cpu_share']:.2f}% of a core, PostgreSQL {100 * r['pg_cpu_share']:.2f}%, "
                    f"Redis {100 * r['redis_cpu_share']:.2f}%; RSS {r['rss_kib_per_socket']} KiB/socket"
                    + (f"; errors: {r['errors']}" if r["errors"] else ""),
                    flush=True,
                )
            output = {"mode": "idle", "results": results}
        else:
            output = run(bench(targets, args))
            print()
            print(output["table"])
        if args.json:
            output["config"] = {k: v for k, v in vars(args).items() if k not in ("json",)}
            output["config"].update(loop=loop_name, server_cpu=server_cpu, load_cpu=load_cpu)
            Path(args.json).write_text(json.dumps(output, indent=2, default=str))
        if args.strict and not all(output.get("verdict", {}).values()):
            return 1
    finally:
        for process in processes:
            process.kill()
        if database is not None:
            database.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
