"""Harness of the browser tests: a live daphne server on a free port with its own database,
Debian's Chromium driven by Playwright, and small helpers to make users and content over
the REST API (each test's own setup) and to watch pages.

The server is one daphne node per test run (tests/servers.py; started on first use, stopped
at exit) on a fresh PostgreSQL database of its own, dropped at exit, or on a SQLite file
(the embedded default, or when DATABASE_URL is not PostgreSQL). Never a browser download: Chromium is /usr/bin/chromium.
"""

import atexit
import itertools
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.factories import PASSWORD, image_bytes
from tests.servers import Database, Node, is_postgres, migrate, server_env

ROOT = Path(__file__).resolve().parent.parent
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


@dataclass
class LiveServer:
    """A daphne node for the browser tests, with its database and files."""

    node: Node
    tmp: Path
    database: Database | None = None

    @property
    def base_url(self) -> str:
        return self.node.http

    @property
    def process(self):
        return self.node.process

    def log_tail(self, lines: int = 60) -> str:
        return self.node.log_tail(lines)

    def stop(self) -> None:
        self.node.stop()
        if self.database is not None:
            self.database.drop()
        shutil.rmtree(self.tmp, ignore_errors=True)


_servers: dict[bool, LiveServer] = {}


def live_server(*, embedded: bool = False) -> LiveServer:
    """The daphne server of this test run (started on first use), on a fresh PostgreSQL
    database. `embedded`: the `make run` default instead, a SQLite file and the in-memory
    channel layer, no Redis (also the fallback when DATABASE_URL is not PostgreSQL)."""
    server = _servers.get(embedded)
    if server is not None:
        if server.process.poll() is not None:
            raise RuntimeError(f"the browser-test server died:\n{server.log_tail()}")
        return server
    tmp = Path(tempfile.mkdtemp(prefix="instaclone-browser-"))
    env = server_env(MEDIA_ROOT=tmp / "media", STATIC_ROOT=tmp / "static", LOG_LEVEL="WARNING")
    database = None
    if embedded or not is_postgres(env.get("DATABASE_URL", "")):
        if embedded:
            env.pop("REDIS_URL", None)
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'app.sqlite3'}"
        migrate(env)
    else:
        database = Database(prefix="instaclone_browser").migrate(env)
        env["DATABASE_URL"] = database.url
    server = LiveServer(node=Node(env, log_dir=tmp), tmp=tmp, database=database)
    try:
        server.node.start()
    except RuntimeError as exc:
        server.stop()
        raise RuntimeError(f"{exc}:\n{server.log_tail()}") from exc
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
            multipart={
                "image": {
                    "name": "photo.jpg",
                    "mimeType": "image/jpeg",
                    "buffer": image_bytes(size=(320, 320), color=(40, 120, 200)),
                },
                "caption": caption,
            },
        )

    def open(self, path: str, viewport: dict | None = None, rewrite: dict[str, str] | None = None):
        """A new tab on `path`, waiting until its module says it is ready. `rewrite` changes
        the page's HTML on its way to the browser (each key, which must be there, to its
        value): to show that a script follows what the server prints. Such a page has no
        socket: Chromium's local-network checks refuse a WebSocket to 127.0.0.1 from a
        document the test fulfilled (REST calls still work)."""
        page = self.context.new_page()
        if viewport:
            page.set_viewport_size(viewport)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("dialog", lambda dialog: (self.errors.append(f"unexpected dialog: {dialog.message}"), dialog.dismiss()))
        if rewrite:

            def rewritten(route):
                response = route.fetch()
                html = response.text()
                for old, new in rewrite.items():
                    assert old in html, f"{path} has no {old!r}"
                    html = html.replace(old, new)
                route.fulfill(response=response, body=html)

            page.route(f"{self.base_url}{path}", rewritten, times=1)
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
    return Person(
        username=username, id=body["user"]["id"], token=body["token"], context=context, base_url=server.base_url
    )


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
