"""Redis behind Sentinel (REDIS_URL=redis+sentinel://...): a real master, a replica and three
sentinels (`redis-server --sentinel`), two daphne nodes on them, pairs of people sending DMs
across the nodes without pause; the master is SIGKILLed mid-conversation. Sentinel promotes
the replica; live delivery resumes through the new master, and every DM reaches both sides
exactly once and in order (what was published into the dead master the event log fills)."""

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis
import websockets

from tests.servers import Database, Node, server_env
from tests.tcp_proxy import free_port

PAIRS = 4
MASTER = "instaclone"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")


def wait_for(predicate, within: float, what: str):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (redis.exceptions.RedisError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def sentinel_set():
    """Master, replica and three sentinels, each a redis-server of its own in a temp dir."""
    root = Path(tempfile.mkdtemp(prefix="instaclone-sentinel-"))
    master_port, replica_port = free_port(), free_port()
    sentinel_ports = [free_port() for _ in range(3)]
    processes: dict[str, subprocess.Popen] = {}

    def start(name: str, *args: str) -> None:
        log = open(root / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        processes[name] = subprocess.Popen(["redis-server", *args], cwd=root, stdout=log, stderr=subprocess.STDOUT)

    common = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
    start("master", "--port", str(master_port), *common)
    start("replica", "--port", str(replica_port), *common, "--replicaof", "127.0.0.1", str(master_port))
    for i, port in enumerate(sentinel_ports):
        conf = root / f"sentinel-{i}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {root}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 5000\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
        )
        start(f"sentinel-{i}", str(conf), "--sentinel")
    try:
        replica = redis.Redis(port=replica_port)
        wait_for(lambda: replica.info("replication").get("master_link_status") == "up", 20, "the replica to sync")
        for port in sentinel_ports:
            sentinel = redis.Redis(port=port, decode_responses=True)
            wait_for(
                lambda s=sentinel: s.sentinel_master(MASTER)["num-other-sentinels"] == 2 and s.sentinel_slaves(MASTER),
                30,
                "the sentinels to know each other and the replica",
            )
        yield {
            "url": "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinel_ports) + f"/{MASTER}/0",
            "master": processes["master"],
            "master_port": master_port,
            "replica_port": replica_port,
            "sentinel_ports": sentinel_ports,
            "root": root,
        }
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


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
        REDIS_URL=sentinel_set["url"],
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
        sentinel_set["master"].kill()
        killed_at = time.monotonic()
        probe = redis.Redis(port=sentinel_set["sentinel_ports"][0])
        await asyncio.to_thread(
            wait_for,
            lambda: (
                int(probe.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)[1])
                == sentinel_set["replica_port"]
            ),
            30,
            "the sentinels to promote the replica",
        )
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
