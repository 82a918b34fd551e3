"""The compose stack, for real: docker-compose.yml built and brought up whole (PostgreSQL with
pg_stat_statements behind PgBouncer in transaction pooling, Redis, the migration job, the
scheduler, two daphne nodes behind nginx, Prometheus with the PostgreSQL and node exporters,
and Grafana where its image is present), on the Debian-built images of
scripts/build-base-images.sh (COMPOSE_TEST_IMAGES=public: the public images instead).

Two people register through the load balancer and talk over websockets; the web container
under one of them is killed mid-conversation (`docker kill`); that client reconnects through
the balancer, resumes (`{"type": "resume", "after": N}`) and the conversation goes on with
nothing lost or duplicated. Prometheus' HTTP API then shows the app's and the database's
series, and the dead node as down. Everything is torn down (`down -v`) in any case.

Skipped, with the reason, where Docker cannot run (not installed, or no daemon and no way to
start one); a dockerd that is installed but not running is started for the module and
stopped after it. HTTP only (HTTPS=0); published ports on 127.0.0.1 only.
"""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import httpx
import pytest
import websockets
from cryptography.fernet import Fernet

from tests import docker_helpers as dh
from tests.tcp_proxy import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
from instaclone_client import InstacloneClient  # noqa: E402

APP_IMAGE = "instaclone-e2e:latest"  # one tag for every run: its layers stay cached
PASSWORD = "correct-horse-battery-9"
SERVICES = [
    "postgres",
    "pgbouncer",
    "redis",
    "migrate",
    "scheduler",
    "web1",
    "web2",
    "lb",
    "prometheus",
    "postgres-exporter",
    "node-exporter",
]


class Stack:
    def __init__(self, compose: list[str], env: dict[str, str], project: str, lb_port: int, prometheus_port: int):
        self.compose = compose
        self.env = env
        self.project = project
        self.lb = f"http://127.0.0.1:{lb_port}"
        self.ws = f"ws://127.0.0.1:{lb_port}/ws/"
        self.prometheus = f"http://127.0.0.1:{prometheus_port}"
        self.killed: str | None = None
        self.services: list[str] = []
        self.containers: dict[str, str] = {}

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        result = dh.run([*self.compose, "-p", self.project, *args], env=self.env, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def container(self, service: str) -> str:
        if service not in self.containers:
            # compose (v1 and v2) labels its containers with the project and the service
            listing = dh.run(
                [
                    "docker",
                    "ps",
                    "-a",
                    "--filter",
                    f"label=com.docker.compose.project={self.project}",
                    "--format",
                    '{{.ID}} {{.Label "com.docker.compose.service"}}',
                ]
            ).stdout
            self.containers = {
                name: cid for cid, name in (line.split() for line in listing.splitlines() if line.strip())
            }
        assert service in self.containers, f"no container for {service}"
        return self.containers[service]

    def inspect(self, service: str) -> dict:
        return json.loads(dh.run(["docker", "inspect", self.container(service)]).stdout)[0]

    def exec(self, service: str, *command: str, timeout: float = 60) -> str:
        result = dh.run(["docker", "exec", self.container(service), *command], timeout=timeout, check=False)
        assert result.returncode == 0, f"{service}: {command} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def logs(self, *services: str, tail: int = 60) -> str:
        result = self("logs", "--no-color", f"--tail={tail}", *services, check=False, timeout=60)
        return result.stdout + result.stderr


def wait_until(condition, *, timeout: float, interval: float = 1.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error!r})")


@pytest.fixture(scope="module")
def docker_daemon():
    reason = dh.unavailable_reason()
    if reason:
        pytest.skip(f"compose stack not run: {reason}")
    daemon = None
    if not dh.daemon_answers():
        daemon = dh.StartedDaemon()
        try:
            daemon.start()
        except RuntimeError as exc:
            pytest.skip(f"compose stack not run: Docker is installed but its daemon cannot start here: {exc}")
    try:
        yield
    finally:
        if daemon is not None:
            daemon.stop()


@pytest.fixture(scope="module")
def stack(docker_daemon, request):
    compose = dh.compose_command()
    if os.environ.get("COMPOSE_TEST_IMAGES", "local") == "public":
        images = {}
    else:
        if (
            not dh.image_exists("instaclone-local/debian:bookworm")
            and not dh.run(["sh", "-c", "command -v debootstrap"], check=False).stdout
        ):
            pytest.skip(
                f"compose stack not run: no local base image and no debootstrap to build one ({dh.INSTALL_HINT})"
            )
        images = dh.local_image_env()
    lb_port, prometheus_port, grafana_port = free_port(), free_port(), free_port()
    project = f"instaclone-e2e-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        **images,
        "APP_IMAGE": APP_IMAGE,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(24),
        "METRICS_TOKEN": secrets.token_urlsafe(24),
        "HTTPS": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LB_PORT": f"127.0.0.1:{lb_port}",
        "PROMETHEUS_PORT": str(prometheus_port),
        "GRAFANA_PORT": str(grafana_port),
        "DOCKER_BUILDKIT": "0",
        "COMPOSE_DOCKER_CLI_BUILD": "0",
    }
    services = list(SERVICES)
    grafana_image = env.get("GRAFANA_IMAGE", "grafana/grafana")
    if dh.image_exists(grafana_image):
        services.append("grafana")
    else:
        warnings.warn(
            f"compose test runs without Grafana: its image {grafana_image} is not on this machine and Debian has "
            "no Grafana package (the dashboard and provisioning files are still checked by test_monitoring.py)",
            stacklevel=1,
        )
    stack = Stack(compose, env, project, lb_port, prometheus_port)
    started = time.monotonic()
    failed_before = request.session.testsfailed
    try:
        # Every app service shares APP_IMAGE: one build serves them all.
        stack("build", "migrate", timeout=1200)
        stack("up", "-d", *services, timeout=600)
        # (asked here rather than waiting for Docker's health checks, which start after 15 s)
        wait_until(
            lambda: all(node_healthy(stack, s) for s in ("web1", "web2")),
            timeout=180,
            what="both web nodes to be healthy",
        )
        print(f"compose stack up in {time.monotonic() - started:.0f} s")  # noqa: T201
        stack.services = services
        yield stack
    except BaseException:
        print(stack.logs(tail=80))  # noqa: T201 - shown with the failure
        raise
    finally:
        if request.session.testsfailed > failed_before:
            # the services' side of a failed test, kept past `down`
            path = Path(tempfile.gettempdir()) / f"{project}.log"
            path.write_text(stack.logs(tail=300))
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"compose stack logs of the failed test(s): {path}")
        stack("down", "-v", "--remove-orphans", "--timeout", "5", timeout=300, check=False)


# Helpers


def register(stack) -> dict:
    name = f"u{uuid.uuid4().hex[:10]}"
    response = httpx.post(
        stack.lb + "/api/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        timeout=20,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"token": body["token"], "username": name, "id": body["user"]["id"]}


def auth(user: dict) -> dict:
    return {"Authorization": f"Token {user['token']}"}


def open_conversation(stack, creator: dict, other: dict) -> int:
    response = httpx.post(
        stack.lb + "/api/conversations", json={"usernames": [other["username"]]}, headers=auth(creator), timeout=20
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def history(stack, user: dict, conversation: int) -> list[int]:
    """Message ids of the conversation over REST, oldest first. As the contract asks of a
    client, a 503 `unavailable` with Retry-After is tried once more after it (right after a
    node is killed, the balancer may find both of its tries failing once)."""

    def read() -> httpx.Response:
        url = f"{stack.lb}/api/conversations/{conversation}/messages"
        return httpx.get(url, headers=auth(user), params={"limit": 50}, timeout=20)

    response = read()
    if response.status_code == 503 and response.headers.get("Retry-After"):
        time.sleep(float(response.headers["Retry-After"]))
        response = read()
    assert response.status_code == 200, response.text
    return [m["id"] for m in reversed(response.json()["results"])]


def node_healthy(stack, service: str) -> bool:
    code = f"import urllib.request as r; r.urlopen(r.Request('http://127.0.0.1:8000/healthz', headers={{'Host': '{service}'}}), timeout=3)"
    return (
        dh.run(["docker", "exec", stack.container(service), "python", "-c", code], timeout=30, check=False).returncode
        == 0
    )


def node_sockets(stack, service: str) -> int:
    """The node's own gauge, read inside its container (the balancer hides /metrics)."""
    code = (
        "import os, urllib.request as r;"
        f"q = r.Request('http://127.0.0.1:8000/metrics', headers={{'Host': '{service}', 'Authorization': 'Bearer ' + os.environ['METRICS_TOKEN']}});"
        "print([l for l in r.urlopen(q, timeout=5).read().decode().splitlines() if l.startswith('instaclone_ws_connections')][0].split()[-1])"
    )
    return int(float(stack.exec(service, "python", "-c", code)))


def socket_counts(stack) -> dict[str, int]:
    return {service: node_sockets(stack, service) for service in ("web1", "web2")}


def node_of_new_socket(stack, before: dict[str, int]) -> str:
    """The node whose gauge went up by one since `before`."""

    def grown():
        now = socket_counts(stack)
        nodes = [service for service in now if now[service] > before[service]]
        return nodes[0] if len(nodes) == 1 else None

    return wait_until(grown, timeout=10, interval=0.3, what=f"one node to gain the socket (before: {before})")


def prometheus_query(stack, query: str) -> list[dict]:
    response = httpx.get(stack.prometheus + "/api/v1/query", params={"query": query}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]["result"]


class RawSocket:
    """A socket that speaks the protocol frame by frame: hello, events, `resume`, `resumed`."""

    def __init__(self, stack, token: str):
        self.url = stack.ws
        self.token = token
        self.ws = None
        self.last_id = 0
        self.received: list[dict] = []  # durable events, each id once

    async def connect(self, wait: float = 60) -> dict:
        deadline = time.monotonic() + wait
        while True:
            try:
                self.ws = await websockets.connect(
                    self.url, additional_headers={"Authorization": f"Token {self.token}"}, open_timeout=10
                )
                hello = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
                assert hello["type"] == "hello", hello
                return hello
            except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    def _take(self, frame: dict) -> None:
        if frame.get("type") == "event" and frame["id"] > self.last_id:
            self.last_id = frame["id"]
            self.received.append(frame)

    async def frame(self, wait: float = 15) -> dict:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), wait))
        self._take(frame)
        return frame

    async def events(self, count: int, wait: float = 20) -> list[dict]:
        start = len(self.received)
        deadline = asyncio.get_running_loop().time() + wait
        while len(self.received) < start + count:
            await self.frame(max(0.01, deadline - asyncio.get_running_loop().time()))
        return self.received[start:]

    async def resume(self) -> list[dict]:
        """Asks for everything after the last event it has; returns what the replay brought."""
        start = len(self.received)
        await self.ws.send(json.dumps({"type": "resume", "after": self.last_id}))
        while (await self.frame())["type"] != "resumed":
            pass
        return self.received[start:]

    async def send_message(self, conversation: int, body: str) -> dict:
        ref = f"r{uuid.uuid4().hex[:6]}"
        frame = {
            "type": "message.send",
            "ref": ref,
            "conversation": conversation,
            "body": body,
            "client_id": str(uuid.uuid4()),
        }
        await self.ws.send(json.dumps(frame))
        while True:
            reply = await self.frame()
            if reply.get("ref") == ref:
                assert reply["type"] == "ack", reply
                return reply["data"]

    async def until_message(self, message_id: int, wait: float = 15) -> None:
        deadline = asyncio.get_running_loop().time() + wait
        while not any(e["data"]["id"] == message_id for e in self.received):
            await self.frame(max(0.01, deadline - asyncio.get_running_loop().time()))

    async def wait_closed(self, wait: float = 30) -> None:
        deadline = asyncio.get_running_loop().time() + wait
        try:
            while True:
                await self.frame(max(0.01, deadline - asyncio.get_running_loop().time()))
        except websockets.ConnectionClosed:
            return
        except TimeoutError:
            raise AssertionError(f"the socket stayed open {wait:.0f} s after its node was killed") from None

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


# Tests


def test_the_stack_is_up_behind_the_balancer_with_pgbouncer_and_the_scheduler(stack):
    # the balancer answers for the app, which reaches the database and Redis
    health = httpx.get(stack.lb + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["checks"] == {"database": "ok", "channel_layer": "ok"}
    assert httpx.get(stack.lb + "/metrics", timeout=10).status_code == 404
    # the migration job finished, everything else runs
    assert stack.inspect("migrate")["State"]["ExitCode"] == 0
    for service in stack.services:
        if service != "migrate":
            assert stack.inspect(service)["State"]["Status"] == "running", service
    # the nodes talk to PgBouncer, in transaction pooling, with server-side cursors off
    settings = stack.exec(
        "web1",
        "python",
        "manage.py",
        "shell",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default']; print(d['HOST'], d['PORT'], d['DISABLE_SERVER_SIDE_CURSORS'])",
    )
    assert settings.splitlines()[-1].split() == ["pgbouncer", "5432", "True"]
    pool_mode = stack.exec(
        "web1",
        "python",
        "-c",
        (
            # The admin console speaks the simple query protocol only: a ClientCursor.
            "import os, psycopg; c = psycopg.connect(host='pgbouncer', port=5432, dbname='pgbouncer', user='instaclone', "
            "password=os.environ['DATABASE_URL'].split(':')[2].split('@')[0], autocommit=True, "
            "cursor_factory=psycopg.ClientCursor); k = c.cursor(); "
            "k.execute('SHOW CONFIG'); print(dict((r[0], r[1]) for r in k.fetchall())['pool_mode'])"
        ),
    )
    assert pool_mode.strip() == "transaction"
    # pg_stat_statements is loaded and its extension created
    statements = stack.exec(
        "postgres",
        "psql",
        "-U",
        "instaclone",
        "-d",
        "instaclone",
        "-tAc",
        "SELECT count(*) > 0 FROM pg_stat_statements",
    )
    assert statements.strip() == "t"
    # the scheduler runs with its three jobs (a missing command is only a warning)
    scheduler_log = stack.logs("scheduler", tail=200)
    for job in ("db_maintenance", "prune_stories", "prune_events"):
        assert f" {job}, next at " in scheduler_log, scheduler_log


async def test_a_conversation_goes_on_when_a_web_container_is_killed(stack):
    # given: alice and bob registered through the balancer, with a conversation
    alice, bob = register(stack), register(stack)
    conversation = open_conversation(stack, alice, bob)
    # and their sockets through the balancer, one on each node (least_conn)
    alice_client = InstacloneClient(stack.ws, token=alice["token"], backoff_base=0.1, backoff_cap=1.0, open_timeout=10)
    bob_socket = RawSocket(stack, bob["token"])
    try:
        before = socket_counts(stack)
        await alice_client.start(wait=30)
        alice_node = node_of_new_socket(stack, before)
        before = socket_counts(stack)
        await bob_socket.connect()
        bob_node = node_of_new_socket(stack, before)
        assert alice_node != bob_node
        # they talk
        first = await alice_client.send_message(conversation, "hi bob")
        assert [e["data"]["id"] for e in await bob_socket.events(1)] == [first["id"]]
        reply = await bob_socket.send_message(conversation, "hi alice")
        assert (await alice_client.collect_events(2, wait=15))[1]["data"]["id"] == reply["id"]

        # when: the container under bob's socket is killed
        stack.killed = bob_node
        dh.run(["docker", "kill", stack.container(bob_node)], timeout=60)
        await bob_socket.wait_closed()
        # and alice goes on talking while bob is away
        missed = [await alice_client.send_message(conversation, f"while you were away {i}") for i in range(3)]
        # then: bob reconnects through the balancer (to the live node) and resumes
        hello = await bob_socket.connect()
        assert hello["last_event_id"] >= bob_socket.last_id + 3
        replayed = await bob_socket.resume()
        assert [e["data"]["id"] for e in replayed] == [m["id"] for m in missed]
        # and the conversation goes on live, both ways
        live = [await alice_client.send_message(conversation, f"welcome back {i}") for i in range(2)]
        assert [e["data"]["id"] for e in await bob_socket.events(2)] == [m["id"] for m in live]
        answer = await bob_socket.send_message(conversation, "still here")
        await bob_socket.until_message(answer["id"])  # the sender's own socket gets it too
        assert [e["data"]["id"] for e in await alice_client.collect_events(6, wait=20)][-1] == answer["id"]
        # nothing lost, nothing twice: bob's events are consecutive, each message once, in order
        ids = [e["id"] for e in bob_socket.received]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        sent = [first, reply, *missed, *live, answer]
        assert [e["data"]["id"] for e in bob_socket.received] == [m["id"] for m in sent]
        await asyncio.sleep(0.5)
        assert alice_client.events.empty()
        assert history(stack, bob, conversation) == [m["id"] for m in sent]
        # and the killed container stays down while the other serves everyone
        assert stack.inspect(bob_node)["State"]["Status"] == "exited"
    finally:
        await alice_client.close()
        await bob_socket.close()


def test_prometheus_scrapes_the_app_and_the_database(stack):
    # the app's own series, from every node Prometheus scrapes
    app = wait_until(
        lambda: prometheus_query(stack, 'instaclone_ws_connections{job="instaclone"}'),
        timeout=60,
        what="instaclone_ws_connections",
    )
    assert {r["metric"]["instance"] for r in app} <= {"web1:8000", "web2:8000"} and app
    # the database's figures as the app reads them (through PgBouncer), per node
    for query in (
        'instaclone_db_up{job="instaclone"} == 1',
        'instaclone_db_pool_size{job="instaclone",pool="django"}',
        'instaclone_db_transactions_total{job="instaclone",result="commit"}',
        'instaclone_db_table_dead_tuples{job="instaclone",table="chat_message"}',
        'instaclone_event_log_bytes{job="instaclone"} > 0',
    ):
        assert wait_until(lambda q=query: prometheus_query(stack, q), timeout=60, what=query)
    # the database's, from the exporter
    up = wait_until(lambda: prometheus_query(stack, "pg_up"), timeout=60, what="pg_up")
    assert up[0]["value"][1] == "1"
    commits = wait_until(
        lambda: prometheus_query(stack, 'pg_stat_database_xact_commit{datname="instaclone"}'),
        timeout=60,
        what="xact_commit",
    )
    assert float(commits[0]["value"][1]) > 0
    # disk space of the stack's volumes, from the node exporter
    disk = wait_until(
        lambda: prometheus_query(stack, 'node_filesystem_avail_bytes{mountpoint="/srv/pgdata"}'),
        timeout=60,
        what="disk",
    )
    assert float(disk[0]["value"][1]) > 0
    # the alert rules are loaded
    rules = httpx.get(stack.prometheus + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    names = {rule["name"] for group in rules for rule in group["rules"]}
    assert {
        "PostgresDown",
        "DbPoolExhausted",
        "DeliveryLatencyP99High",
        "DeadTuplesHigh",
        "ReplicationLagHigh",
        "DiskSpaceLow",
    } <= names
    # and the node killed in the conversation test is seen down, the other up
    if stack.killed:

        def killed_is_down():
            states = {r["metric"]["instance"]: r["value"][1] for r in prometheus_query(stack, 'up{job="instaclone"}')}
            return states.get(f"{stack.killed}:8000") == "0" and "1" in states.values()

        wait_until(killed_is_down, timeout=60, interval=2, what=f"Prometheus to see {stack.killed} down")
