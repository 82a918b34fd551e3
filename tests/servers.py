"""Real server processes for end-to-end tests: a migrated database of their own and daphne
nodes on free ports."""

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from tests.tcp_proxy import free_port

ROOT = Path(__file__).resolve().parent.parent
DAPHNE = str(Path(sys.executable).with_name("daphne"))
ADMIN_URL = os.environ.get("DATABASE_URL", "postgres://postgres@localhost:5432/instaclone")


def admin_dsn() -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/postgres"


def migrate(env: dict) -> None:
    """Applies the migrations to the database `env["DATABASE_URL"]` names."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


class Database:
    """A fresh PostgreSQL database, migrated, dropped on close."""

    def __init__(self, prefix: str = "instaclone_e2e"):
        self.name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{self.name}"
        self._execute("CREATE DATABASE {}")

    def _execute(self, statement: str) -> None:
        conn = psycopg.connect(admin_dsn(), autocommit=True)

        try:
            with conn.cursor() as cursor:
                cursor.execute(sql.SQL(statement).format(sql.Identifier(self.name)))
        finally:
            conn.close()

    def migrate(self, env: dict) -> "Database":
        migrate({**env, "DATABASE_URL": self.url})
        return self

    def drop(self) -> None:
        self._execute("DROP DATABASE IF EXISTS {} WITH (FORCE)")


# A node's socket flood guard out of the way, for load that is not testing it (a fuzzer that
# wants every frame answered, senders that send again on each ack): its default closes a
# socket past 30 frames a second with 4429.
NO_FLOOD_GUARD = {"WS_RATE_BURST": "100000000", "WS_RATE_PER_SECOND": "100000000"}


def server_env(**overrides) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",  # the project's own, not the test run's
        "HTTPS": "0",
        "DEBUG": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({k: str(v) for k, v in overrides.items() if v is not None})
    return env


class Node:
    """One daphne process serving the app."""

    def __init__(
        self,
        env: dict,
        port: int | None = None,
        log_dir: Path | None = None,
        args: tuple[str, ...] = (),
        backlog: int | None = None,
    ):
        self.port = port or free_port()
        self.backlog = backlog  # the listen queue (daphne's default is 50)
        self.env = env
        self.args = tuple(args)  # extra daphne options, e.g. ("--proxy-headers",) as in the image
        self.log_path = (log_dir or Path("/tmp")) / f"daphne-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def rss_kib(self) -> int:
        """The process's resident memory (VmRSS), in KiB."""
        assert self.process is not None, "not started"
        with open(f"/proc/{self.process.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    def start(self, timeout: float = 30) -> "Node":
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [DAPHNE, *self.listen(), *self.args, "asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited early; see {self.log_path}")
            try:
                # A node that is not listening yet refuses at once; one that is up may answer
                # slowly (its requests queue for HTTP_CONCURRENCY, e.g. behind a reconnect storm).
                urllib.request.urlopen(self.http + "/healthz", timeout=5)  # noqa: S310
                return self
            except urllib.error.HTTPError:
                return self  # it answers (503 is still an answer)
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"daphne did not start on {self.port}; see {self.log_path}")

    def listen(self) -> list[str]:
        if self.backlog is None:
            return ["-b", "127.0.0.1", "-p", str(self.port)]
        return ["-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog={self.backlog}"]

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextmanager
def fresh_node(name: str, backlog: int | None = None, **overrides) -> Iterator[Node]:
    """A started node on a fresh database `instaclone_<name>` and a channel prefix of its own
    (on REDIS_URL), with `overrides` in its environment; killed and dropped after."""
    database = Database(prefix=f"instaclone_{name}").migrate(server_env())
    redis_url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    env = server_env(
        DATABASE_URL=database.url,
        REDIS_URL=redis_url,
        CHANNEL_PREFIX=f"{name}-{uuid.uuid4().hex[:8]}",
        **overrides,
    )
    server = Node(env, backlog=backlog)
    try:
        server.start()
        yield server
    finally:
        server.kill()
        database.drop()
