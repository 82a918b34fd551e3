"""Harness of the browser tests: a live daphne server on a free port with its own database,
Debian's Chromium driven by Playwright, and small helpers to make users and content over
the REST API (each test's own setup) and to watch pages.

The server is one subprocess per test run (started on first use, stopped at exit); its
database is `<DATABASE_URL's name>_browser`, dropped and migrated afresh, or a SQLite file
when DATABASE_URL is not PostgreSQL. Never a browser download: Chromium is /usr/bin/chromium.
"""

import atexit
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.factories import PASSWORD, image_bytes

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
WAIT_MS = 10_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _browser_database_url(tmp: Path) -> str:
    """A fresh database for the server: PostgreSQL `<name>_browser` or a SQLite file."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'browser.sqlite3'}"
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(base)
    name = parts.path.lstrip("/") or "instaclone"
    target = f"{name}_browser"
    admin = urlunsplit(parts._replace(path="/postgres"))
    connection = psycopg2.connect(admin)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target)))
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target)))
    finally:
        connection.close()
    return urlunsplit(parts._replace(path=f"/{target}"))


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen
    log_path: Path
    tmp: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


_servers: dict[bool, LiveServer] = {}


def live_server(*, embedded: bool = False) -> LiveServer:
    """The daphne server of this test run (started on first use). `embedded`: the
    `make run` default instead, a SQLite file and the in-memory channel layer, no Redis."""
    server = _servers.get(embedded)
    if server is not None:
        if server.process.poll() is not None:
            raise RuntimeError(f"the browser-test server died:\n{server.log_tail()}")
        return server
    tmp = Path(tempfile.mkdtemp(prefix="instaclone-browser-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not (embedded and k == "REDIS_URL")},
        "DATABASE_URL": f"sqlite:///{tmp / 'embedded.sqlite3'}" if embedded else _browser_database_url(tmp),
        "HTTPS": "0",
        "DEBUG": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "MEDIA_ROOT": str(tmp / "media"),
        "STATIC_ROOT": str(tmp / "static"),
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
    }
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
    log_path = tmp / "daphne.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(base_url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, tmp=tmp)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/login", timeout=2) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"daphne did not answer in 30 s:\n{server.log_tail()}")
        time.sleep(0.2)
    _servers[embedded] = server
    atexit.register(server.stop)
    return server


# --- Playwright ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for one test module (the sync API's loop lives only
    as long as the module, so it never meets an asyncio test's loop)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/ensure-test-tools.sh")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def server():
    return live_server()


_names = itertools.count(1)


def unique_username(prefix: str) -> str:
    return f"{prefix}_{next(_names)}_{uuid.uuid4().hex[:6]}"


@dataclass
class Person:
    """A signed-up user with their own browser context (session cookie) and API token."""

    username: str
    id: int
    token: str
    context: object
    base_url: str
    pages: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def api(self, method: str, path: str, body: dict | None = None, multipart: dict | None = None) -> dict:
        """A REST call with this person's token (no CSRF needed): for test setup."""
        kwargs = {"headers": {"Authorization": f"Token {self.token}"}, "fail_on_status_code": False}
        if body is not None:
            kwargs["data"] = body
        if multipart is not None:
            kwargs["multipart"] = multipart
        response = self.context.request.fetch(f"{self.base_url}{path}", method=method, **kwargs)
        text = response.text()
        payload = json.loads(text) if text else None
        if not response.ok:
            raise AssertionError(f"{method} {path} -> {response.status}: {text[:500]}")
        return payload

    def post_photo(self, caption: str = "") -> dict:
        return self.api(
            "POST",
            "/api/posts",
            multipart={"image": {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": image_bytes(size=(320, 320), color=(40, 120, 200))}, "caption": caption},
        )

    def open(self, path: str, viewport: dict | None = None):
        """A new tab on `path`, waiting until its module says it is ready."""
        page = self.context.new_page()
        if viewport:
            page.set_viewport_size(viewport)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("dialog", lambda dialog: (self.errors.append(f"unexpected dialog: {dialog.message}"), dialog.dismiss()))
        page.goto(f"{self.base_url}{path}")
        wait_ready(page)
        self.pages.append(page)
        return page


def wait_ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=WAIT_MS)


def wait_socket_open(page) -> None:
    page.wait_for_selector("body[data-socket='open']", state="attached", timeout=WAIT_MS)


def sign_up(browser, server: LiveServer, prefix: str, viewport: dict | None = None) -> Person:
    """Registers over the API inside a fresh browser context, which then holds the session."""
    context = browser.new_context(viewport=viewport or DESKTOP, base_url=server.base_url)
    username = unique_username(prefix)
    response = context.request.post(
        f"{server.base_url}/api/auth/register",
        data={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert response.status == 201, response.text()
    body = response.json()
    return Person(username=username, id=body["user"]["id"], token=body["token"], context=context, base_url=server.base_url)


@pytest.fixture
def people(browser, server):
    """make(prefix) -> Person; contexts are closed and page errors asserted at the end."""
    made: list[Person] = []

    def make(prefix: str, viewport: dict | None = None) -> Person:
        person = sign_up(browser, server, prefix, viewport)
        made.append(person)
        return person

    yield make
    errors = [error for person in made for error in person.errors]
    for person in made:
        person.context.close()
    assert not errors, f"errors in the pages: {errors}\n--- server log ---\n{server.log_tail(30)}"
