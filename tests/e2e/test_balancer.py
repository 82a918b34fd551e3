"""The production load balancer, end to end: Debian's nginx runs deploy/nginx.conf (rendered
only where compose names things: the two upstream addresses, the listening port, the media
directory, the socket log file) in front of two real daphne nodes started as the image starts
them (`--proxy-headers`, HTTPS on, as compose's default) on one PostgreSQL and one Redis.
Every request goes through the balancer; the test client plays the TLS terminator in front
of it (it sends `X-Forwarded-Proto: https`) except where plain HTTP is the point.

Covered: REST and websockets through it (the upgrade, least_conn spreading sockets over both
nodes, a DM crossing nodes), /metrics kept off the public side under spellings nginx folds
together, /healthz open, a client's X-Forwarded-For overwritten, the body limits (a ~10 MB
upload passes, over 12 MB is refused by nginx with a JSON error), /media/ served by nginx,
the socket log without ?token=, the session + CSRF flow on a non-default port, and a node
SIGKILLed under a client that reconnects through the balancer and resumes without loss.
"""

import asyncio
import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import websockets
from PIL import Image

from tests.servers import Database, Node, server_env
from tests.tcp_proxy import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
from instaclone_client import InstacloneClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SITE_CONFIG = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MIME_TYPES = Path("/etc/nginx/mime.types")
REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
PASSWORD = "correct-horse-battery-9"
TLS_FRONT = {"X-Forwarded-Proto": "https"}
MiB = 1024 * 1024


# The balancer


def render_site(*, upstreams: tuple[int, int], port: int, media: Path, logs: Path) -> str:
    """deploy/nginx.conf with compose's names swapped for local ones, nothing else changed."""
    text = SITE_CONFIG.read_text()
    replacements = [
        ("server web1:8000", f"server 127.0.0.1:{upstreams[0]}"),
        ("server web2:8000", f"server 127.0.0.1:{upstreams[1]}"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("alias /srv/media/;", f"alias {media}/;"),
        ("/var/log/nginx/access.log", str(logs / "ws-access.log")),
    ]
    for old, new in replacements:
        assert text.count(old) == 1, f"deploy/nginx.conf should contain {old!r} exactly once"
        text = text.replace(old, new)
    return text


def main_config(*, directory: Path, site: Path) -> str:
    """The top level of the nginx image's /etc/nginx/nginx.conf, with every path in `directory`;
    the site is included inside `http` as compose mounts it into conf.d/."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    mime = f"include {MIME_TYPES};\n" if MIME_TYPES.exists() else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 512; }}
http {{
    {mime}
    default_type application/octet-stream;
    access_log {directory}/access.log;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    sendfile on;
    keepalive_timeout 65;
    include {site};
}}
"""


class Balancer:
    def __init__(self, *, upstreams: tuple[int, int], media: Path, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        site = self.directory / "default.conf"
        site.write_text(render_site(upstreams=upstreams, port=self.port, media=media, logs=self.directory))
        self.config = self.directory / "nginx.conf"
        self.config.write_text(main_config(directory=self.directory, site=site))
        self.process: subprocess.Popen | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def command(self, *extra: str) -> list[str]:
        return [
            NGINX,
            "-p",
            str(self.directory),
            "-e",
            str(self.directory / "error.log"),
            "-c",
            str(self.config),
            *extra,
        ]

    def start(self) -> "Balancer":
        check = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=10)
        assert check.returncode == 0, f"nginx -t refused the config:\n{check.stderr}"
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.directory / "error.log").read_text()
            try:
                with contextlib.closing(socket.create_connection(("127.0.0.1", self.port), timeout=0.5)):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen on {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def stack():
    if not os.access(NGINX, os.X_OK):
        pytest.fail(f"{NGINX} is missing: run scripts/ensure-test-tools.sh")
    directory = Path(tempfile.mkdtemp(prefix="instaclone-lb-"))
    directory.chmod(0o755)
    media = directory / "media"
    media.mkdir()
    database = Database(prefix="instaclone_e2e_lb").migrate(server_env())
    env = server_env(
        DATABASE_URL=database.url,
        REDIS_URL=REDIS_URL,
        CHANNEL_PREFIX=f"e2e-lb-{uuid.uuid4().hex[:8]}",
        HTTPS="1",
        MEDIA_ROOT=media,
    )
    nodes = [Node(env, log_dir=directory, args=("--proxy-headers",)) for _ in range(2)]
    balancer = None
    try:
        start_all(nodes)
        balancer = Balancer(
            upstreams=(nodes[0].port, nodes[1].port), media=media, directory=directory / "nginx"
        ).start()
        yield SimpleNamespace(nodes=nodes, balancer=balancer, media=media, database=database)
    finally:
        if balancer is not None:
            balancer.stop()
        for node in nodes:
            node.kill()
        database.drop()
        shutil.rmtree(directory, ignore_errors=True)


def start_all(nodes: list[Node]) -> None:
    errors: list[BaseException] = []

    def start(node: Node) -> None:
        try:
            node.start()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# Helpers: everything through the balancer unless it says otherwise


def lb_client(stack, **headers) -> httpx.Client:
    return httpx.Client(base_url=stack.balancer.http, timeout=20, headers={**TLS_FRONT, **headers})


def register(stack) -> dict:
    name = f"u{uuid.uuid4().hex[:10]}"
    with lb_client(stack) as http:
        response = http.post(
            "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"token": body["token"], "username": name, "id": body["user"]["id"]}


def auth(user: dict) -> dict:
    return {"Authorization": f"Token {user['token']}"}


def open_conversation(stack, creator: dict, other: dict) -> int:
    with lb_client(stack, **auth(creator)) as http:
        response = http.post("/api/conversations", json={"usernames": [other["username"]]})
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


def rest_send(stack, sender: dict, conversation: int, body: str) -> dict:
    with lb_client(stack, **auth(sender)) as http:
        response = http.post(
            f"/api/conversations/{conversation}/messages", json={"body": body, "client_id": str(uuid.uuid4())}
        )
    assert response.status_code == 201, response.text
    return response.json()


def ws_connections(node: Node) -> int:
    """The node's own gauge, read from the node directly (the balancer hides /metrics)."""
    with urllib.request.urlopen(node.http + "/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    match = re.search(r"^instaclone_ws_connections(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, "instaclone_ws_connections is missing from /metrics"
    return int(float(match.group(1)))


def ws_counts(stack) -> list[int]:
    return [ws_connections(node) for node in stack.nodes]


async def settled_counts(stack, wait: float = 5.0) -> list[int]:
    """The gauges once two reads a moment apart agree (closes are counted asynchronously)."""
    deadline = time.monotonic() + wait
    previous = ws_counts(stack)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.15)
        current = ws_counts(stack)
        if current == previous:
            return current
        previous = current
    return previous


async def node_of_new_socket(stack, before: list[int], wait: float = 5.0) -> int:
    """Index of the node whose gauge went up by one since `before`."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        grown = [i for i, (now, then) in enumerate(zip(ws_counts(stack), before, strict=True)) if now > then]
        if len(grown) == 1:
            return grown[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no single node gained the socket: before {before}, now {ws_counts(stack)}")


def node_log(node: Node) -> str:
    return node.log_path.read_text(errors="replace") if node.log_path.exists() else ""


def wait_for_log_line(stack, needle: str, wait: float = 5.0) -> str:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for node in stack.nodes:
            for line in node_log(node).splitlines():
                if needle in line:
                    return line
        time.sleep(0.05)
    raise AssertionError(f"no node logged {needle!r}")


def noise_png(target_bytes: int) -> bytes:
    """A valid PNG of random pixels (incompressible) just under `target_bytes`."""
    side = int((target_bytes / 3) ** 0.5) - 8
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def posts_logged(stack) -> int:
    """Uploads the nodes saw: posts (up to 101 MB, ten images) and stories (the 11 MB limit)."""
    return sum(
        node_log(node).count('"POST /api/posts"') + node_log(node).count('"POST /api/stories"') for node in stack.nodes
    )


# Tests


def test_the_config_passes_nginx_t_and_is_rendered_only_where_compose_names_things(stack):
    site = (stack.balancer.directory / "default.conf").read_text()
    assert "web1" not in site and "web2" not in site and "/srv/media" not in site
    # the balancer answers for the app: /healthz open, REST with the app's JSON
    with lb_client(stack) as http:
        health = http.get("/healthz")
        missing = http.get("/api/posts/999999999")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert missing.status_code in (401, 403, 404) and "code" in missing.json()


@pytest.mark.parametrize(
    "path", ["/metrics", "/metrics?format=text", "//metrics", "/%6Detrics", "/./metrics", "/api/../metrics"]
)
def test_metrics_are_not_served_through_the_balancer(stack, path):
    # given: the nodes themselves do serve them
    assert ws_connections(stack.nodes[0]) >= 0
    # when: asked through the balancer, however spelled
    with lb_client(stack) as http:
        response = http.get(httpx.URL(stack.balancer.http + path))
    # then: a JSON 404, no metric in it
    assert response.status_code == 404, (path, response.status_code)
    assert "instaclone_" not in response.text
    assert response.json()["code"] == "not_found"


def test_a_client_written_x_forwarded_for_is_overwritten(stack):
    # given: the nodes trust X-Forwarded-For (--proxy-headers) and log the client they see
    direct_probe = f"/api/xff-direct-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=stack.nodes[0].http, timeout=10, headers=TLS_FRONT) as http:
        http.get(direct_probe, headers={"X-Forwarded-For": "198.51.100.9"})
    assert wait_for_log_line(stack, f'"GET {direct_probe}"').startswith("198.51.100.9")
    # when: a client sends its own X-Forwarded-For through the balancer
    probe = f"/api/xff-lb-{uuid.uuid4().hex[:8]}"
    with lb_client(stack) as http:
        response = http.get(probe, headers={"X-Forwarded-For": "203.0.113.7, 10.0.0.1"})
    assert response.status_code == 404
    # then: the node sees the balancer's peer (this client), not the forged address
    line = wait_for_log_line(stack, f'"GET {probe}"')
    assert line.startswith("127.0.0.1") and "203.0.113.7" not in line


def test_plain_http_is_redirected_to_https_and_a_tls_front_is_believed(stack):
    with httpx.Client(base_url=stack.balancer.http, timeout=10) as http:
        plain = http.get("/api/me")
        fronted = http.get("/api/me", headers=TLS_FRONT)
    assert plain.status_code == 301 and plain.headers["location"].startswith("https://127.0.0.1")
    assert plain.headers["location"].endswith("/api/me")
    # the TLS terminator's X-Forwarded-Proto reaches the app: no redirect loop
    assert fronted.status_code in (401, 403) and fronted.json()["code"] == "not_authenticated"


def test_session_and_csrf_work_on_a_non_default_port(stack):
    # given: a browser signed in through the balancer at https://127.0.0.1:<port>
    user, other = register(stack), register(stack)
    origin = f"https://127.0.0.1:{stack.balancer.port}"
    with lb_client(stack) as http:
        login = http.post("/api/auth/login", json={"username": user["username"], "password": PASSWORD})
    assert login.status_code == 200, login.text
    cookies = {name: login.cookies[name] for name in ("sessionid", "csrftoken") if name in login.cookies}
    assert set(cookies) == {"sessionid", "csrftoken"}, login.headers.get_list("set-cookie")
    cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    # when: it writes with the session, its CSRF token and its own Origin
    response = httpx.post(
        stack.balancer.http + "/api/conversations",
        json={"usernames": [other["username"]]},
        headers={
            **TLS_FRONT,
            "Cookie": cookie_header,
            "X-CSRFToken": cookies["csrftoken"],
            "Origin": origin,
            "Referer": origin + "/",
        },
        timeout=10,
    )
    # then: the app sees the host and port the browser used, so the Origin check passes
    assert response.status_code in (200, 201), response.text
    # and absolute URLs the app builds name the balancer as the client reached it
    for _ in range(3):
        open_conversation(stack, user, register(stack))
    with lb_client(stack, **auth(user)) as http:
        page = http.get("/api/conversations", params={"limit": 1}).json()
    assert page["next"] and page["next"].startswith(origin + "/"), page["next"]


@contextlib.asynccontextmanager
async def clients_on_two_nodes(stack, alice: dict, bob: dict, **bob_options):
    """alice's and bob's clients, connected through the balancer, each on its own node
    (least_conn): yields (alice_client, bob_client, alice_node, bob_node)."""
    alice_client = InstacloneClient(stack.balancer.ws, token=alice["token"])
    bob_client = InstacloneClient(stack.balancer.ws, token=bob["token"], **bob_options)
    try:
        before = await settled_counts(stack)
        await alice_client.start()
        alice_node = await node_of_new_socket(stack, before)
        before = ws_counts(stack)
        await bob_client.start()
        bob_node = await node_of_new_socket(stack, before)
        assert alice_node != bob_node
        yield alice_client, bob_client, alice_node, bob_node
    finally:
        await alice_client.close()
        await bob_client.close()


async def test_websockets_through_the_balancer_spread_over_both_nodes_and_a_dm_crosses(stack):
    # given: alice and bob on sockets opened through the balancer, on different nodes
    alice, bob = register(stack), register(stack)
    conversation = open_conversation(stack, alice, bob)
    async with clients_on_two_nodes(stack, alice, bob) as (alice_client, bob_client, _, _):
        # when: alice sends over her socket
        ack = await alice_client.send_message(conversation, "through the balancer")
        # then: bob, on the other node, gets it live
        (event,) = await bob_client.collect_events(1)
        assert event["event"] == "message.new" and event["data"] == ack
        assert (await alice_client.next_event())["data"] == ack


async def test_socket_handshakes_are_logged_without_the_query_string(stack):
    # given: a socket authenticated with ?token= through the balancer
    user = register(stack)
    async with websockets.connect(f"{stack.balancer.ws}?token={user['token']}") as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"
    # then: the balancer logged the handshake (101) but not the token
    log = stack.balancer.directory / "ws-access.log"
    for _ in range(100):
        text = log.read_text()
        if '"GET /ws/ HTTP/1.1" 101' in text:
            break
        await asyncio.sleep(0.05)
    assert '"GET /ws/ HTTP/1.1" 101' in text
    assert user["token"] not in text and "token=" not in text
    assert user["token"] not in (stack.balancer.directory / "access.log").read_text()


def test_upload_limits_and_media_served_by_nginx(stack):
    user = register(stack)
    # given: a valid image just under the app's 10 MiB image limit
    image = noise_png(int(9.6 * MiB))
    assert 9 * MiB < len(image) < 10 * MiB
    logged = posts_logged(stack)
    with lb_client(stack, **auth(user)) as http:
        # when: it is uploaded through the balancer
        created = http.post("/api/posts", files={"image": ("big.png", image, "image/png")}, data={"caption": "big"})
        # then: it passes the balancer and the node stores it
        assert created.status_code == 201, created.text[:300]
        # and the media URL is served by nginx from the shared volume, as an image, sandboxed
        path = httpx.URL(created.json()["image_url"]).path
        served = http.get(path)
        assert served.status_code == 200 and served.headers["content-type"] in ("image/png", "image/jpeg", "image/webp")
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert "max-age=2592000" in served.headers.get("cache-control", "")
        # when: a body between the app's limit (11 MiB) and the balancer's (12 MiB)
        between = http.post("/api/stories", files={"image": ("x.png", b"\0" * int(11.5 * MiB), "image/png")})
        # then: it reaches a node, which answers its own JSON 413
        assert between.status_code == 413 and between.json()["code"] == "too_large"
    deadline = time.monotonic() + 5
    while posts_logged(stack) < logged + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert posts_logged(stack) == logged + 2
    # when: over the balancer's 12 MiB
    with lb_client(stack, **auth(user)) as http:
        too_big = http.post("/api/stories", files={"image": ("x.png", b"\0" * int(12.5 * MiB), "image/png")})
    # then: nginx refuses it, as JSON like the app's errors, and no node ever saw it
    assert too_big.status_code == 413
    assert too_big.headers["content-type"].startswith("application/json")
    assert too_big.json()["code"] == "too_large"
    time.sleep(0.3)
    assert posts_logged(stack) == logged + 2


def test_media_other_than_images_is_a_sandboxed_download(stack):
    # given: a non-image file in the media volume
    (stack.media / "page.html").write_text("<script>alert(1)</script>")
    (stack.media / "page.html").chmod(0o644)
    # when
    with lb_client(stack) as http:
        response = http.get("/media/page.html")
    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"
    # and a missing file is nginx's own 404, as JSON
    with lb_client(stack) as http:
        missing = http.get("/media/no-such-file.png")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_a_killed_node_fails_over_and_the_client_resumes_through_the_balancer(stack):
    # given: alice and bob on sockets through the balancer, on different nodes
    alice, bob = register(stack), register(stack)
    conversation = open_conversation(stack, alice, bob)
    victim = None
    try:
        async with clients_on_two_nodes(stack, alice, bob, backoff_base=0.05, backoff_cap=0.3) as (
            alice_client,
            bob_client,
            alice_node,
            bob_node,
        ):
            first = await alice_client.send_message(conversation, "before the crash")
            assert (await bob_client.next_event())["data"]["id"] == first["id"]
            # when: bob's node is SIGKILLed and alice sends five more meanwhile
            victim = stack.nodes[bob_node]
            victim.kill()
            sent = [await alice_client.send_message(conversation, f"after the crash {i}") for i in range(5)]
            # then: plain requests keep working through the balancer (it skips the dead node)
            with lb_client(stack) as http:
                assert [http.get("/healthz").status_code for _ in range(6)] == [200] * 6
            # and bob's client reconnects through the balancer, lands on the live node,
            # resumes, and gets the five once, in order
            got = await bob_client.collect_events(5, wait=15)
            assert [e["data"]["id"] for e in got] == [m["id"] for m in sent]
            assert [e["id"] for e in got] == list(range(got[0]["id"], got[0]["id"] + 5))
            assert bob_client.connections == 2
            assert ws_connections(stack.nodes[alice_node]) >= 2
            await asyncio.sleep(0.3)
            assert bob_client.events.empty()
            # and the new socket is live
            last = rest_send(stack, alice, conversation, "live again")
            assert (await bob_client.next_event())["data"]["id"] == last["id"]
    finally:
        if victim is not None and victim.process.poll() is not None:
            with contextlib.suppress(RuntimeError, urllib.error.URLError):
                victim.start()


def test_with_every_node_down_the_balancer_answers_json_503(stack, tmp_path):
    # given: the same config in front of two ports nothing listens on
    balancer = Balancer(upstreams=(free_port(), free_port()), media=stack.media, directory=tmp_path / "nginx").start()
    try:
        # when
        with httpx.Client(base_url=balancer.http, timeout=10, headers=TLS_FRONT) as http:
            response = http.get("/api/feed")
        # then: a JSON error clients already understand, not nginx's HTML page
        assert response.status_code == 503
        assert response.json()["code"] == "unavailable"
    finally:
        balancer.stop()
