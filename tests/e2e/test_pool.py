"""Each process holds at most its configured pool of database connections, whatever the load:
500 concurrent REST requests and 500 sockets through two nodes, with PostgreSQL's own view
(`pg_stat_activity`) sampled all along."""

import asyncio
import json
import os
import threading
import time
import uuid

import httpx
import psycopg
import pytest
import websockets

from tests.servers import Database, Node, admin_dsn, server_env

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
POOL, WS_POOL = 4, 2
REQUESTS = SOCKETS = 500


@pytest.fixture
def nodes():
    database = Database(prefix="instaclone_pool").migrate(server_env())
    env = server_env(
        DATABASE_URL=database.url,
        REDIS_URL=REDIS_URL,
        CHANNEL_PREFIX=f"pool-{uuid.uuid4().hex[:8]}",
        DB_POOL_SIZE=POOL,
        WS_DB_POOL_SIZE=WS_POOL,
        WS_MAX_SOCKETS_PER_USER=SOCKETS,  # 500 sockets over 20 people: past the default 20 each
        THROTTLE_RATES="anon=off,user=off,register=off,message=off",
    )
    started = [Node(env).start(), Node(env).start()]
    try:
        yield database, started
    finally:
        for node in started:
            node.kill()
        database.drop()


class ConnectionSampler(threading.Thread):
    """Counts the database's connections every 20 ms until stopped; keeps the largest."""

    def __init__(self, database: Database):
        super().__init__(daemon=True)
        self.database, self.largest, self.samples, self.running = database, 0, 0, True

    def run(self):
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            while self.running:
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.database.name]
                ).fetchone()
                self.largest, self.samples = max(self.largest, count), self.samples + 1
                time.sleep(0.02)


async def register(http: httpx.AsyncClient) -> dict:
    name = f"p{uuid.uuid4().hex[:10]}"
    response = await http.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-9-b"}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_two_nodes_never_hold_more_than_their_pools_under_500_requests_and_500_sockets(nodes):
    database, (one, two) = nodes
    sampler = ConnectionSampler(database)

    async def scenario():
        limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
        async with (
            httpx.AsyncClient(base_url=one.http, timeout=60, limits=limits) as http_one,
            httpx.AsyncClient(base_url=two.http, timeout=60, limits=limits) as http_two,
        ):
            people = await asyncio.gather(*(register(http_one) for _ in range(20)))
            sampler.start()
            # when: 500 requests at once, half on each node, and 500 sockets opening meanwhile
            clients = [http_one, http_two]
            requests = [
                clients[i % 2].get("/api/me", headers={"Authorization": f"Token {people[i % 20]['token']}"})
                for i in range(REQUESTS)
            ]

            opening = asyncio.Semaphore(50)  # sockets open in waves, and all stay open together
            all_open = asyncio.Event()
            opened = 0

            async def socket(i: int):
                nonlocal opened
                node = (one, two)[i % 2]
                async with opening:
                    ws = await websockets.connect(f"{node.ws}?token={people[i % 20]['token']}", open_timeout=60)
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                opened += 1
                if opened == SOCKETS:
                    all_open.set()
                try:
                    await asyncio.wait_for(all_open.wait(), 120)
                    return frame["type"]
                finally:
                    await ws.close()

            results = await asyncio.gather(*requests, *(socket(i) for i in range(SOCKETS)))
            return results[:REQUESTS], results[REQUESTS:]

    try:
        responses, hellos = asyncio.run(scenario())
    finally:
        sampler.running = False
        sampler.join()
    # then: everything was served, and PostgreSQL never saw more than the two pools
    assert [r.status_code for r in responses] == [200] * REQUESTS
    assert hellos == ["hello"] * SOCKETS
    assert sampler.samples > 10
    assert sampler.largest <= 2 * (POOL + WS_POOL), sampler.largest
    for node in (one, two):
        assert "too many clients" not in node.log_tail(10_000)
