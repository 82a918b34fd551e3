"""Redis behind Sentinel (REDIS_URL=redis+sentinel://...): a real master, a replica and three
sentinels (`redis-server --sentinel`), two daphne nodes on them, pairs of people sending DMs
across the nodes without pause; the master is SIGKILLed mid-conversation. Sentinel promotes
the replica; live delivery resumes through the new master, and every DM reaches both sides
exactly once and in order (what was published into the dead master the event log fills)."""

import asyncio
import itertools
import json
import shutil
import time
import uuid

import httpx
import pytest
import websockets

from tests.faults.redis_set import RedisSet, wait_for
from tests.servers import Database, Node, server_env

PAIRS = 4

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")


@pytest.fixture
def sentinel_set():
    """Master, replica and three sentinels, each a redis-server of its own."""
    redis_set = RedisSet(sentinel=True)
    try:
        yield redis_set
    finally:
        redis_set.close()


async def register(http: httpx.AsyncClient) -> dict:
    name = f"s{uuid.uuid4().hex[:10]}"
    response = await http.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-9-b"}
    )
    assert response.status_code == 201, response.text
    return response.json()


class Socket:
    def __init__(self, ws):
        self.ws, self.events, self.errors, self.arrived = ws, [], [], []
        self.acks: dict[str, asyncio.Future] = {}
        self.reader = asyncio.ensure_future(self.read())

    async def read(self):
        async for text in self.ws:
            frame = json.loads(text)
            if frame["type"] == "event" and frame["event"] == "message.new":
                self.events.append(frame["id"])
                self.arrived.append(time.monotonic())
            elif frame["type"] == "ack":
                self.acks.pop(frame["ref"]).set_result(frame["data"])
            elif frame["type"] == "error":
                self.errors.append(frame)
                future = self.acks.pop(frame.get("ref"), None)
                if future is not None:
                    future.set_exception(AssertionError(frame))

    async def send(self, conversation: int, ref: str) -> None:
        future = asyncio.get_running_loop().create_future()
        self.acks[ref] = future
        frame = {"type": "message.send", "ref": ref, "conversation": conversation, "body": ref}
        await self.ws.send(json.dumps({**frame, "client_id": str(uuid.uuid4())}))
        await asyncio.wait_for(future, 30)


def test_delivery_resumes_after_the_master_is_killed_and_nothing_is_lost_or_doubled(sentinel_set):
    database = Database(prefix="instaclone_sentinel").migrate(server_env())
    env = server_env(
        DATABASE_URL=database.url,
        REDIS_URL=sentinel_set.url,
        CHANNEL_PREFIX=f"sentinel-{uuid.uuid4().hex[:8]}",
        CACHE_PREFIX=f"sentinel-{uuid.uuid4().hex[:8]}",
        THROTTLE_RATES="anon=off,user=off,register=off,message=off",
        WS_LOG_CHECK_SECONDS=2,
    )
    nodes = [Node(env).start(), Node(env).start()]

    async def scenario():
        async with httpx.AsyncClient(base_url=nodes[0].http, timeout=30) as http:
            people = [await register(http) for _ in range(2 * PAIRS)]
            conversations = []
            for i in range(PAIRS):
                response = await http.post(
                    "/api/conversations",
                    json={"usernames": [people[2 * i + 1]["user"]["username"]]},
                    headers={"Authorization": f"Token {people[2 * i]['token']}"},
                )
                assert response.status_code in (200, 201), response.text
                conversations.append(response.json()["id"])
        sockets = []
        for n, person in enumerate(people):  # sender and receiver on different nodes
            ws = await websockets.connect(f"{nodes[n % 2].ws}?token={person['token']}", open_timeout=30)
            assert json.loads(await ws.recv())["type"] == "hello"
            sockets.append(Socket(ws))
        stop = asyncio.Event()
        sent = [0] * PAIRS

        async def talk(i: int):
            counter = itertools.count()
            while not stop.is_set():
                await sockets[2 * i].send(conversations[i], f"p{i}-{next(counter)}")
                sent[i] += 1
                await asyncio.sleep(0.02)

        talkers = [asyncio.ensure_future(talk(i)) for i in range(PAIRS)]
        await asyncio.sleep(2)
        # when: the master dies
        sentinel_set.master.kill()
        killed_at = time.monotonic()
        await asyncio.to_thread(wait_for, sentinel_set.promoted, 30, "the sentinels to promote the replica")
        promoted_at = time.monotonic()
        await asyncio.sleep(1)
        live_before = await live_sends()
        await asyncio.sleep(4)
        live_after = await live_sends()
        stop.set()
        await asyncio.gather(*talkers)
        for _ in range(200):
            if all(len(sockets[2 * i + 1].events) >= sent[i] for i in range(PAIRS)):
                break
            await asyncio.sleep(0.1)
        for socket in sockets:
            await socket.ws.close()
        return sockets, sent, killed_at, promoted_at, live_before, live_after

    async def live_sends() -> float:
        """Events the nodes pushed live (through the channel layer), not found in the log."""
        total = 0.0
        async with httpx.AsyncClient(timeout=10) as http:
            for node in nodes:
                for line in (await http.get(node.http + "/metrics")).text.splitlines():
                    if line.startswith('instaclone_ws_events_out_total{path="live"}'):
                        total += float(line.split()[-1])
        return total

    try:
        sockets, sent, killed_at, promoted_at, live_before, live_after = asyncio.run(scenario())
    finally:
        for node in nodes:
            node.kill()
        database.drop()
    # then: every DM reached both sides once and in order, and none was refused
    assert all(sent)
    for i in range(PAIRS):
        sender, receiver = sockets[2 * i], sockets[2 * i + 1]
        assert sender.errors == [] and receiver.errors == []
        for socket in (sender, receiver):
            assert socket.events == list(range(1, sent[i] + 1)), (i, sent[i], socket.events[-5:])
    # and after the failover, events flow live again through the new master (not only found
    # in the log), and reach the receivers promptly
    assert live_after - live_before > 2 * PAIRS, (live_before, live_after)
    for i in range(PAIRS):
        receiver = sockets[2 * i + 1]
        assert any(t > promoted_at + 2 for t in receiver.arrived), (killed_at, promoted_at, receiver.arrived[-3:])
