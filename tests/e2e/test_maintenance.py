"""`db_maintenance` under DM traffic: a real daphne node, pairs of people sending DMs over
sockets without pause, and the maintenance run in the middle of it with every threshold at
zero (so it vacuums and analyzes every table and rebuilds every index, the event log's and
the messages' included, CONCURRENTLY) and two more event log partitions to attach. It must finish without error; no send may fail, no
event be lost or doubled; and no session may wait on a lock longer than the maintenance's
lock_timeout allows (PostgreSQL's own view, sampled all along)."""

import asyncio
import itertools
import json
import os
import re
import sys
import threading
import time
import uuid

import httpx
import psycopg
import pytest
import websockets

from tests.servers import NO_FLOOD_GUARD, ROOT, Database, Node, admin_dsn, server_env

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
PAIRS = 6
LOCK_TIMEOUT = 2.0


@pytest.fixture
def node():
    database = Database(prefix="instaclone_maint").migrate(server_env())
    env = server_env(
        DATABASE_URL=database.url,
        REDIS_URL=REDIS_URL,
        CHANNEL_PREFIX=f"maint-{uuid.uuid4().hex[:8]}",
        THROTTLE_RATES="anon=off,user=off,register=off,message=off",
        **NO_FLOOD_GUARD,  # each sender sends again as soon as it has its ack
    )
    started = Node(env).start()
    try:
        yield database, started
    finally:
        started.kill()
        database.drop()


class LockWaits(threading.Thread):
    """The longest any session of the database has been waiting on a lock, sampled every 50 ms."""

    def __init__(self, database: Database):
        super().__init__(daemon=True)
        self.database, self.longest, self.samples, self.running = database, 0.0, 0, True
        self.worst = ""

    def run(self):
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            while self.running:
                row = conn.execute(
                    "SELECT extract(epoch FROM clock_timestamp() - state_change)::float8, query "
                    "FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' "
                    "ORDER BY state_change LIMIT 1",
                    [self.database.name],
                ).fetchone()
                if row and row[0] > self.longest:
                    self.longest, self.worst = row[0], row[1]
                self.samples += 1
                time.sleep(0.05)


async def register(http: httpx.AsyncClient) -> dict:
    name = f"m{uuid.uuid4().hex[:10]}"
    response = await http.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-9-b"}
    )
    assert response.status_code == 201, response.text
    return response.json()


class Socket:
    """One person's socket: events by id, acks by ref, error frames kept."""

    def __init__(self, ws):
        self.ws, self.events, self.errors = ws, [], []
        self.acks: dict[str, asyncio.Future] = {}
        self.reader = asyncio.ensure_future(self.read())

    async def read(self):
        async for text in self.ws:
            frame = json.loads(text)
            if frame["type"] == "event" and frame["event"] == "message.new":
                self.events.append(frame["id"])
            elif frame["type"] == "ack":
                self.acks.pop(frame["ref"]).set_result(frame["data"])
            elif frame["type"] == "error":
                self.errors.append(frame)
                future = self.acks.pop(frame.get("ref"), None)
                if future is not None:
                    future.set_exception(AssertionError(frame))

    async def send(self, conversation: int, body: str, ref: str) -> dict:
        future = asyncio.get_running_loop().create_future()
        self.acks[ref] = future
        await self.ws.send(
            json.dumps(
                {
                    "type": "message.send",
                    "ref": ref,
                    "conversation": conversation,
                    "body": body,
                    "client_id": str(uuid.uuid4()),
                }
            )
        )
        return await asyncio.wait_for(future, 30)


def test_maintenance_during_dm_traffic_loses_nothing_and_holds_no_lock_past_its_bound(node):
    database, server = node
    sampler = LockWaits(database)
    env = {**server.env, "PYTHONWARNINGS": "ignore"}

    async def scenario():
        async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
            people = [await register(http) for _ in range(2 * PAIRS)]
            conversations = []
            for i in range(PAIRS):
                sender, receiver = people[2 * i], people[2 * i + 1]
                response = await http.post(
                    "/api/conversations",
                    json={"usernames": [receiver["user"]["username"]]},
                    headers={"Authorization": f"Token {sender['token']}"},
                )
                assert response.status_code in (200, 201), response.text
                conversations.append(response.json()["id"])
        sockets = []
        for person in people:
            ws = await websockets.connect(f"{server.ws}?token={person['token']}", open_timeout=30)
            assert json.loads(await ws.recv())["type"] == "hello"
            sockets.append(Socket(ws))
        stop = asyncio.Event()
        sent = [0] * PAIRS
        slowest = [0.0]

        async def talk(i: int):
            counter = itertools.count()
            while not stop.is_set():
                started = time.monotonic()
                await sockets[2 * i].send(conversations[i], f"dm {i}", f"r{next(counter)}")
                slowest[0] = max(slowest[0], time.monotonic() - started)
                sent[i] += 1

        talkers = [asyncio.ensure_future(talk(i)) for i in range(PAIRS)]
        await asyncio.sleep(2)
        sampler.start()
        maintenance = await asyncio.create_subprocess_exec(
            sys.executable,
            "manage.py",
            "db_maintenance",
            "--no-progress",
            "--vacuum-threshold=0",
            "--vacuum-scale=0",
            "--analyze-threshold=0",
            "--analyze-scale=0",
            "--reindex-bloat=0",
            "--reindex-min-bytes=0",
            f"--lock-timeout={LOCK_TIMEOUT}",
            "--partitions-ahead=4",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(maintenance.communicate(), 300)
        sent_during = sum(sent)
        await asyncio.sleep(1)
        stop.set()
        await asyncio.gather(*talkers)
        # every event has time to arrive
        for _ in range(150):
            if all(len(sockets[2 * i + 1].events) >= sent[i] for i in range(PAIRS)):
                break
            await asyncio.sleep(0.1)
        for socket in sockets:
            await socket.ws.close()
        return maintenance.returncode, out.decode(), err.decode(), sent, sent_during, slowest[0], sockets

    try:
        code, out, err, sent, sent_during, slowest, sockets = asyncio.run(scenario())
    finally:
        sampler.running = False
        sampler.join()
    # then: the maintenance ran every kind of step, the event log's and the messages' included
    assert code == 0, out + err
    assert re.search(r'^REINDEX INDEX CONCURRENTLY "realtime_event_\w+": index [\d,]+ -> [\d,]+ bytes', out, re.M), out
    assert re.search(r'^REINDEX INDEX CONCURRENTLY "chat_message_\w+": index', out, re.M), out
    assert re.search(r'^(VACUUM \(ANALYZE\)|ANALYZE) "realtime_event(_p\d+)?"', out, re.M), out
    assert re.search(r"^create partition realtime_event_p\d+ ", out, re.M), out
    assert "failed" not in out and "skipped" not in out
    # and traffic went on all along: no error, every DM reached its receiver and its sender's
    # socket once, in order
    assert sent_during > 0 and all(sent)
    for i in range(PAIRS):
        sender, receiver = sockets[2 * i], sockets[2 * i + 1]
        assert sender.errors == [] and receiver.errors == []
        for socket in (sender, receiver):
            assert socket.events == list(range(1, sent[i] + 1)), (i, sent[i], socket.events[-5:])
    # and no session waited on a lock past the bound
    assert sampler.samples > 10
    assert sampler.longest <= LOCK_TIMEOUT + 1.0, (sampler.longest, sampler.worst)
    assert slowest < 10, slowest
