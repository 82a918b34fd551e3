"""Reads from a real PostgreSQL streaming replica (DATABASE_REPLICA_URL, core/replica.py).

A primary of its own (initdb in a temp dir, another port) and a replica made from it by
`pg_basebackup -R`, both run by `pg_ctl` as the postgres user; a daphne node on the two.
With the replica's replay paused, a profile read by someone else shows the replica's
(stale) copy, so reads do go there; the person who just wrote reads their write (pinned to
the primary); once the replica is further behind than REPLICA_MAX_LAG_SECONDS, reads go to
the primary and /metrics reports the lag; with the replica killed, reads still answer."""

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import Node, migrate, server_env
from tests.tcp_proxy import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
MAX_LAG = 10.0

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "pg_ctl").exists() or os.geteuid() != 0 or shutil.which("runuser") is None,
    reason="needs PostgreSQL 15's server binaries and root (to run them as the postgres user)",
)


def as_postgres(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class Cluster:
    def __init__(self, root: Path, name: str):
        self.dir, self.port = root / name, free_port()
        self.log = root / f"{name}.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/instaclone"

    def connect(self, dbname: str = "instaclone") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def configure(self, socket_dir: Path) -> None:
        with open(self.dir / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{socket_dir}'\n"
                "fsync = off\nmax_wal_senders = 5\n"
            )

    def start(self) -> None:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "stop"],
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def clusters():
    root = Path(tempfile.mkdtemp(prefix="instaclone-replica-"))
    shutil.chown(root, "postgres", "postgres")
    primary, replica = Cluster(root, "primary"), Cluster(root, "replica")
    try:
        as_postgres(str(PG_BIN / "initdb"), "-D", str(primary.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        primary.configure(root)
        primary.start()
        with primary.connect("postgres") as conn:
            conn.execute("CREATE DATABASE instaclone")
        as_postgres(
            str(PG_BIN / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-D", str(replica.dir)),
            *("-R", "-X", "stream", "-c", "fast"),
        )
        replica.configure(root)
        replica.start()
        migrate(server_env(DATABASE_URL=primary.url))
        yield primary, replica
    finally:
        replica.stop("immediate")
        primary.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def node(clusters):
    primary, replica = clusters
    env = server_env(
        DATABASE_URL=primary.url,
        DATABASE_REPLICA_URL=replica.url,
        REDIS_URL=REDIS_URL,
        CACHE_PREFIX=f"replica-{uuid.uuid4().hex[:8]}",
        CHANNEL_PREFIX=f"replica-{uuid.uuid4().hex[:8]}",
        REPLICA_MAX_LAG_SECONDS=MAX_LAG,
        REPLICA_CHECK_SECONDS=0.2,
        REPLICA_PIN_SECONDS=3,
        DB_STATS_SECONDS=0,
        THROTTLE_RATES="anon=off,user=off,register=off",
    )
    started = Node(env).start()
    try:
        yield started
    finally:
        started.kill()


def register(http: httpx.Client) -> dict:
    name = f"r{uuid.uuid4().hex[:10]}"
    response = http.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-9-b"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"name": name, "headers": {"Authorization": f"Token {body['token']}"}}


def full_name(http: httpx.Client, viewer: dict, username: str) -> str:
    """The name people search finds (a read the replica serves; profiles are cached apart)."""
    response = http.get("/api/users", params={"q": username}, headers=viewer["headers"])
    assert response.status_code == 200, response.text
    (found,) = [user for user in response.json()["results"] if user["username"] == username]
    return found["full_name"]


def caught_up(primary: Cluster, replica: Cluster, within: float = 20) -> None:
    with primary.connect() as p, replica.connect() as r:
        (target,) = p.execute("SELECT pg_current_wal_lsn()").fetchone()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            (done,) = r.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()
            if done:
                return
            time.sleep(0.05)
    raise AssertionError("the replica did not catch up")


def replica_lag_metric(http: httpx.Client) -> float | None:
    text = http.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "instaclone_db_replication_lag_seconds" and sample.labels.get("replica") == "replica":
                return sample.value
    return None


def test_reads_go_to_the_replica_writers_read_their_writes_and_a_lagging_or_dead_replica_only_slows_reads(
    clusters, node
):
    primary, replica = clusters
    with httpx.Client(base_url=node.http, timeout=30) as http:
        alice, bob = register(http), register(http)
        # given: the replica has everything, then stops replaying (it still receives)
        with primary.connect() as p:
            p.execute("UPDATE accounts_user SET full_name = 'Alice' WHERE username = %s", [alice["name"]])
        caught_up(primary, replica)
        assert full_name(http, bob, alice["name"]) == "Alice"
        with replica.connect() as r:
            r.execute("SELECT pg_wal_replay_pause()")
        # when: alice's name changes on the primary behind the app's back
        with primary.connect() as p:
            p.execute("UPDATE accounts_user SET full_name = 'Alice P.' WHERE username = %s", [alice["name"]])
        # then: bob's read of her profile comes from the replica: the old name
        assert full_name(http, bob, alice["name"]) == "Alice"
        # when: alice changes her name through the app
        response = http.patch("/api/me", json={"full_name": "Alice Q."}, headers=alice["headers"])
        assert response.status_code == 200, response.text
        # then: she reads her write at once (pinned to the primary); bob still reads the replica
        assert full_name(http, alice, alice["name"]) == "Alice Q."
        assert full_name(http, bob, alice["name"]) == "Alice"
        # when: the replica falls further behind than REPLICA_MAX_LAG_SECONDS
        time.sleep(MAX_LAG + 1)
        # then: reads go to the primary, and /metrics says how far behind the replica is
        assert full_name(http, bob, alice["name"]) == "Alice Q."
        lag = replica_lag_metric(http)
        assert lag is not None and lag > MAX_LAG, lag
        # when: it replays again
        with replica.connect() as r:
            r.execute("SELECT pg_wal_replay_resume()")
        caught_up(primary, replica)
        time.sleep(0.5)
        assert full_name(http, bob, alice["name"]) == "Alice Q."
        assert replica_lag_metric(http) == 0
        # when: the replica dies
        replica.stop("immediate")
        # then: every read still answers, from the primary
        for _ in range(5):
            started = time.monotonic()
            assert full_name(http, bob, alice["name"]) == "Alice Q."
            assert time.monotonic() - started < 5
        assert replica_lag_metric(http) is None
        # and writes never went anywhere but the primary
        assert http.patch("/api/me", json={"full_name": "Alice R."}, headers=alice["headers"]).status_code == 200
        assert full_name(http, alice, alice["name"]) == "Alice R."
