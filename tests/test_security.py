"""Security properties, pinned: object access, input bounds, authentication, XSS surface,
secrets and information leaks. Each test names the attack it refuses."""

import base64
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiToken, Block, User
from chat.models import Message, Participant
from core.crypto import digest
from core.throttling import ScopedThrottle
from feed.models import Comment, Post
from notifications.models import Notification
from tests.factories import PASSWORD, UserFactory, client_id, image_upload, issue_token

pytestmark = pytest.mark.django_db


def cursor(position: str) -> str:
    return base64.b64encode(f"p={position}".encode()).decode()


def raw_client(user=None) -> APIClient:
    """A token client whose server errors come back as responses (500s are findings)."""
    client = APIClient(raise_request_exception=False)
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user)}")
    return client


# (b) Input bounds: cursors, query parameters and ids


@pytest.mark.parametrize(
    "path",
    ["/api/feed", "/api/notifications", "/api/conversations", "/api/users", "/api/users/{name}/followers", "/api/users/{name}/posts"],
)
@pytest.mark.parametrize("position", ["abc", "1e5", "9" * 40, "2024-13-45T99:99", "\u00e9", ""])
def test_a_forged_cursor_position_is_a_404_never_a_500(path, position):
    # given
    user = UserFactory()
    client = raw_client(user)
    # when
    response = client.get(path.format(name=user.username), {"cursor": cursor(position)})
    # then: a position that fits the ordering gives a page; anything else "Invalid cursor"
    assert response.status_code in (200, 404), response.content
    assert response["Content-Type"] == "application/json"
    if response.status_code == 404:
        assert response.json()["code"] == "not_found"


def test_undecodable_cursor_and_odd_limits_are_handled():
    client = raw_client(UserFactory())
    assert client.get("/api/feed", {"cursor": "%%%not-base64"}).status_code == 404
    for limit in ("-1", "abc", "100000", "0", "9" * 50):
        response = client.get("/api/notifications", {"limit": limit})
        assert response.status_code == 200
        assert len(response.json()["results"]) <= 100


# (b) Input bounds: request bodies


JSON_WRITES = [
    ("post", "/api/auth/login"),
    ("post", "/api/auth/register"),
    ("patch", "/api/me"),
    ("post", "/api/conversations"),
    ("post", "/api/notifications/read"),
]


@pytest.mark.parametrize(("method", "path"), JSON_WRITES)
def test_deeply_nested_json_is_a_400_parse_error_not_a_500(method, path):
    client = raw_client(UserFactory())
    deep = "[" * 100_000 + "]" * 100_000
    response = getattr(client, method)(path, deep, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize(("method", "path"), JSON_WRITES)
def test_a_json_body_over_the_limit_is_refused_with_413(method, path, settings):
    client = raw_client(UserFactory())
    body = json.dumps({"usernames": ["x" * 30] * (settings.JSON_MAX_BYTES // 30)})
    assert len(body) > settings.JSON_MAX_BYTES
    response = getattr(client, method)(path, body, content_type="application/json")
    assert response.status_code == 413, response.content
    assert response.json()["code"] == "too_large"


def test_a_json_body_under_the_limit_still_parses(settings):
    # given: the longest legitimate body, a 4,000-character message of escaped characters
    alice, bob = UserFactory(), UserFactory()
    client = raw_client(alice)
    conversation = client.post("/api/conversations", {"usernames": [bob.username]}, format="json").json()["id"]
    body = json.dumps({"body": "\u2603" * 4000, "client_id": client_id()}, ensure_ascii=True)
    # when
    response = client.post(f"/api/conversations/{conversation}/messages", body, content_type="application/json")
    # then
    assert response.status_code == 201


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_login_and_register_take_json_only_so_a_cross_site_form_cannot_log_a_victim_in(content_type):
    # given: alice's credentials, posted the way an <form action=/api/auth/login> on another site would
    UserFactory(username="alice")
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    body = f"username=alice&password={PASSWORD}"
    if content_type.startswith("multipart"):
        body = f'--x\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n--x\r\nContent-Disposition: form-data; name="password"\r\n\r\n{PASSWORD}\r\n--x--\r\n'
    for path in ("/api/auth/login", "/api/auth/register"):
        # when
        response = client.post(path, body, content_type=content_type)
        # then: no session is opened
        assert response.status_code == 415, response.content
        assert "sessionid" not in response.cookies


@pytest.mark.parametrize("path", ["/api/conversations", "/api/notifications/read", "/api/posts/1/comments"])
def test_json_endpoints_refuse_form_and_multipart_bodies(path):
    client = raw_client(UserFactory())
    response = client.post(path, {"usernames": "x", "up_to": "1", "body": "x"}, format="multipart")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


# (c) Authentication: throttles cannot be dodged


@pytest.mark.parametrize(("path", "scope"), [("/api/auth/login", "login"), ("/api/auth/register", "register")])
def test_a_forged_x_forwarded_for_does_not_reset_the_login_and_register_throttles(path, scope, monkeypatch):
    # given: 2 attempts a minute per address
    monkeypatch.setattr(ScopedThrottle, "THROTTLE_RATES", {**ScopedThrottle.THROTTLE_RATES, scope: "2/min"})
    UserFactory(username="alice")
    client = APIClient()
    body = {"username": "alice", "password": "wrong-password-1", "email": "x@example.com"}
    # when: every attempt claims another client address
    codes = [
        client.post(path, body, format="json", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}", REMOTE_ADDR="203.0.113.9").status_code
        for n in range(4)
    ]
    # then: the address the connection came from is what counts
    assert codes[2:] == [429, 429], codes


def test_the_load_balancer_overwrites_x_forwarded_for_instead_of_passing_the_clients_on():
    conf = (Path(settings.BASE_DIR) / "deploy" / "nginx.conf").read_text()
    assert "$proxy_add_x_forwarded_for" not in conf
    assert conf.count("proxy_set_header X-Forwarded-For $remote_addr;") == conf.count("proxy_pass ")


# (a) Object access on the websocket: blocks hide typing and presence


@pytest.fixture
async def ws_cleanup():
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    from realtime.db import db_executor_shutdown

    await sync_to_async(db_executor_shutdown, thread_sensitive=False)()
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("blocker", ["alice", "bob"])
async def test_a_block_either_way_hides_presence_and_typing(blocker, ws_cleanup):
    from asgiref.sync import sync_to_async

    from tests.ws_helpers import make_user_with_token, open_conversation, open_socket, send

    # given: alice and bob share a direct conversation, then one blocks the other
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    pair = {"alice": (alice, bob), "bob": (bob, alice)}[blocker]
    await sync_to_async(Block.objects.create)(blocker=pair[0], blocked=pair[1])
    bob_tab, _ = await open_socket(bob_token)
    # when: alice comes online and types
    alice_tab, _ = await open_socket(alice_token)
    await send(alice_tab, {"type": "typing", "conversation": conversation})
    await alice_tab.disconnect()
    # then: bob hears nothing of it
    assert await bob_tab.receive_nothing(timeout=0.5)
    await bob_tab.disconnect()


# (d) XSS: what /media/ and /static/ serve


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("page.html", b"<script>alert(document.cookie)</script>"),
        ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"),
        ("noext", b"<script>alert(1)</script>"),
        ("x.js", b"alert(1)"),
    ],
)
def test_media_never_serves_a_file_as_html_svg_or_script(name, payload, settings):
    # given: a file that reached the media folder other than through the image pipeline
    settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    (settings.MEDIA_ROOT / name).write_bytes(payload)
    # when
    response = Client().get(f"/media/{name}")
    # then: a download that cannot run script in the site's origin
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == "attachment"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_an_uploaded_image_is_served_as_an_image(client_for):
    # given
    post = client_for(UserFactory()).post("/api/posts", {"image": image_upload()}, format="multipart").json()
    # when
    response = Client().get(post["image_url"])
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert not response.get("Content-Disposition", "").startswith("attachment")


@pytest.mark.parametrize(
    "path",
    [
        "/media/../manage.py",
        "/media/%2e%2e/manage.py",
        "/media/..%2fmanage.py",
        "/media//etc/passwd",
        "/media/%2fetc%2fpasswd",
        "/static/../../manage.py",
        "/static/%2e%2e/%2e%2e/config/settings.py",
        "/static/..%2f..%2frealtime%2fsettings.py",
        "/static//etc/passwd",
        "/static/frontend/../../../config/settings.py",
    ],
)
def test_static_and_media_paths_cannot_leave_their_roots(path, settings):
    settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    response = Client().get(path)
    assert response.status_code == 404
    assert b"SECRET_KEY" not in b"".join(response) if response.streaming else b"SECRET_KEY" not in response.content


def test_the_load_balancer_serves_media_as_images_or_downloads_only():
    conf = (Path(settings.BASE_DIR) / "deploy" / "nginx.conf").read_text()
    media = conf[conf.index("location /media/") : conf.index("location /ws/")]
    assert "default_type application/octet-stream;" in media
    assert "image/jpeg jpg jpeg;" in media
    assert "svg" not in media and "html" not in media
    assert "sandbox" in media and "nosniff" in media


# (b) Input bounds: any request body, at the ASGI entry


@pytest.mark.django_db(transaction=True)
async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(settings, ws_cleanup):
    from channels.testing import HttpCommunicator

    from asgi import application

    # given: a request that announces 100 MB of multipart to an endpoint that takes none
    settings.REQUEST_MAX_BYTES = 4096
    headers = [(b"host", b"localhost"), (b"content-type", b"multipart/form-data; boundary=x"), (b"content-length", str(100 * 1024 * 1024).encode())]
    # when
    response = await HttpCommunicator(application, "POST", "/api/notifications/read", body=b"--x", headers=headers).get_response()
    # then
    assert response["status"] == 413
    assert json.loads(response["body"])["code"] == "too_large"


@pytest.mark.django_db(transaction=True)
async def test_a_chunked_body_is_cut_off_at_the_limit(settings, ws_cleanup):
    from asgiref.testing import ApplicationCommunicator

    from asgi import application

    # given: a body without Content-Length, streamed in chunks past the limit
    settings.REQUEST_MAX_BYTES = 4096
    scope = {
        "type": "http", "http_version": "1.1", "method": "POST", "path": "/api/auth/login", "raw_path": b"/api/auth/login",
        "query_string": b"", "root_path": "", "scheme": "http", "headers": [(b"host", b"localhost"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
    }
    comm = ApplicationCommunicator(application, scope)
    # when
    for _ in range(10):
        await comm.send_input({"type": "http.request", "body": b" " * 1024, "more_body": True})
    start = await comm.receive_output(timeout=5)
    body = await comm.receive_output(timeout=5)
    # then
    assert start["status"] == 413
    assert json.loads(body["body"])["code"] == "too_large"
    await comm.wait(timeout=5)


@pytest.mark.django_db(transaction=True)
async def test_a_body_within_the_limit_reaches_the_view(ws_cleanup):
    from channels.testing import HttpCommunicator

    from asgi import application

    # (a body the view refuses before any query: the view's thread ends with the request)
    body = json.dumps({"username": "nobody", "password": ""}).encode()
    headers = [(b"host", b"localhost"), (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    response = await HttpCommunicator(application, "POST", "/api/auth/login", body=body, headers=headers).get_response()
    assert response["status"] == 400
    assert json.loads(response["body"])["fields"] == {"password": ["This field may not be blank."]}


# (e) Secrets: never in the repository or the image


def test_the_env_file_with_the_secrets_stays_out_of_git_and_the_docker_image():
    root = Path(settings.BASE_DIR)
    gitignore = (root / ".gitignore").read_text().split()
    dockerignore = (root / ".dockerignore").read_text().split()
    assert ".env" in gitignore
    # the Dockerfile copies the whole folder: the .env beside docker-compose.yml must not ride along
    assert "COPY . ." in (root / "Dockerfile").read_text()
    for name in (".env", "backup.json", "db.sqlite3", "media"):
        assert name in dockerignore, name


def test_no_secret_is_committed():
    import re
    import subprocess

    root = Path(settings.BASE_DIR)
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    assert ".env" not in files and "db.sqlite3" not in files
    pattern = re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{30,}"
        r"|(SECRET_KEY|FIELD_ENCRYPTION_KEYS|POSTGRES_PASSWORD|METRICS_TOKEN)\s*[:=]\s*['\"]?[A-Za-z0-9+/_=-]{20,}"
    )
    leaks = []
    for name in files:
        path = root / name
        if name.startswith("tests/") or not path.is_file() or path.suffix in {".png", ".jpg", ".ico"}:
            continue
        if pattern.search(path.read_text(errors="ignore")):
            leaks.append(name)
    assert leaks == []


# (f) Information leaks and side doors: admin, metrics


def test_the_admin_login_form_is_throttled_like_the_api_login(monkeypatch):
    # given: 2 login attempts a minute per address
    monkeypatch.setattr(ScopedThrottle, "THROTTLE_RATES", {**ScopedThrottle.THROTTLE_RATES, "login": "2/min"})
    UserFactory(username="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.get("/admin/login/")
    # when: a password guesser posts the admin's form
    codes = [
        client.post("/admin/login/", {"username": "admin", "password": f"guess-{n}"}, HTTP_X_FORWARDED_FOR=f"10.1.1.{n}").status_code
        for n in range(4)
    ]
    # then
    assert codes == [200, 200, 429, 429]
    # and the right password still works once the window passes (a fresh address here)
    ok = Client().post("/admin/login/", {"username": "admin", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7")
    assert ok.status_code == 302


def test_the_admin_does_not_tell_a_non_staff_account_from_a_wrong_password():
    UserFactory(username="alice")
    wrong = Client().post("/admin/login/", {"username": "alice", "password": "wrong-password"}, REMOTE_ADDR="198.51.100.1")
    right_but_not_staff = Client().post("/admin/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="198.51.100.2")
    assert wrong.status_code == right_but_not_staff.status_code == 200
    assert wrong.context["form"].errors == right_but_not_staff.context["form"].errors


def test_the_load_balancer_does_not_publish_metrics():
    conf = (Path(settings.BASE_DIR) / "deploy" / "nginx.conf").read_text()
    assert "location = /metrics {\n        return 404;" in conf


def test_metrics_need_the_bearer_token_when_one_is_set(settings):
    settings.METRICS_TOKEN = "s3cret-token"
    client = Client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token\u00e9").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def test_app_pages_carry_a_script_policy_that_forbids_inline_and_foreign_script():
    # given
    user = UserFactory()
    client = Client()
    client.force_login(user)
    pages = [(client, "/"), (client, f"/u/{user.username}"), (client, "/inbox/999999"), (client, "/search?q=%22%3E%3Cscript%3E")]
    pages += [(Client(), "/login"), (Client(), "/signup")]
    for browser, path in pages:
        # when
        response = browser.get(path)
        # then
        policy = response["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"
        assert b"<script>" not in response.content
    # and the pages have no inline script or handler the policy would break
    templates = Path(settings.BASE_DIR) / "frontend" / "templates" / "frontend"
    for template in templates.glob("*.html"):
        text = template.read_text()
        assert "<script>" not in text and " onclick=" not in text and "style=" not in text, template.name


# (a) Object access over REST: nobody reads or changes what is not theirs


def direct_conversation(a, b) -> int:
    from chat.services import conversation_open

    conversation, _ = conversation_open(creator=a, usernames=[b.username])
    return conversation.pk


def test_an_outsider_cannot_tell_someone_elses_conversation_from_a_missing_one():
    # given: alice and bob talk; mallory is not in it
    alice, bob, mallory = UserFactory(), UserFactory(), UserFactory()
    conversation = direct_conversation(alice, bob)
    message = raw_client(alice).post(
        f"/api/conversations/{conversation}/messages", {"body": "secret", "client_id": client_id()}, format="json"
    ).json()
    client = raw_client(mallory)
    missing = conversation + 10_000
    # when / then: every way in answers exactly as for a conversation that does not exist
    for target in (conversation, missing):
        responses = [
            client.get(f"/api/conversations/{target}/messages"),
            client.post(f"/api/conversations/{target}/messages", {"body": "hi", "client_id": client_id()}, format="json"),
            client.post(f"/api/conversations/{target}/read", {"message_id": message["id"]}, format="json"),
        ]
        for response in responses:
            assert response.status_code == 404
            assert response.json() == {"detail": "No such conversation.", "code": "not_found"}
    assert client.get("/api/conversations").json()["results"] == []
    assert Client().get(f"/inbox/{conversation}").status_code == 302  # the page needs a login
    page = Client()
    page.force_login(mallory)
    assert page.get(f"/inbox/{conversation}").status_code == 404
    assert Message.objects.filter(conversation_id=conversation).count() == 1
    assert Participant.objects.get(conversation_id=conversation, user=bob).last_read_message_id == 0


def test_a_participant_cannot_mark_read_with_a_message_of_another_conversation():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    mine = direct_conversation(alice, bob)
    theirs = direct_conversation(bob, carol)
    other = raw_client(bob).post(
        f"/api/conversations/{theirs}/messages", {"body": "x", "client_id": client_id()}, format="json"
    ).json()
    response = raw_client(alice).post(f"/api/conversations/{mine}/read", {"message_id": other["id"]}, format="json")
    assert response.status_code == 400
    assert Participant.objects.get(conversation_id=mine, user=alice).last_read_message_id == 0


def test_a_client_id_is_per_sender_so_it_cannot_fetch_someone_elses_message():
    # given: bob sent a message with a known client_id
    alice, bob = UserFactory(), UserFactory()
    conversation = direct_conversation(alice, bob)
    shared = client_id()
    raw_client(bob).post(f"/api/conversations/{conversation}/messages", {"body": "bob's", "client_id": shared}, format="json")
    # when: alice sends with the same client_id
    response = raw_client(alice).post(
        f"/api/conversations/{conversation}/messages", {"body": "alice's", "client_id": shared}, format="json"
    )
    # then: a new message of hers, not bob's returned as "the original"
    assert response.status_code == 201
    assert response.json()["sender"]["id"] == alice.pk and response.json()["body"] == "alice's"


def test_notifications_are_only_ever_the_recipients():
    # given: bob has a notification; alice has none
    alice, bob = UserFactory(), UserFactory()
    raw_client(alice).post(f"/api/users/{bob.username}/follow")
    assert Notification.objects.filter(recipient=bob).count() == 1
    client = raw_client(alice)
    # when
    listed = client.get("/api/notifications").json()["results"]
    marked = client.post("/api/notifications/read", {"up_to": 2**63 - 1}, format="json").json()
    # then
    assert listed == [] and marked == {"updated": 0}
    assert Notification.objects.get(recipient=bob).read is False


def test_only_the_author_deletes_a_post_and_only_its_authors_delete_a_comment():
    # given: alice's post with a comment by bob; mallory is a stranger
    alice, bob, mallory = UserFactory(), UserFactory(), UserFactory()
    post = raw_client(alice).post("/api/posts", {"image": image_upload()}, format="multipart").json()
    comment = raw_client(bob).post(f"/api/posts/{post['id']}/comments", {"body": "nice"}, format="json").json()
    second = raw_client(bob).post(f"/api/posts/{post['id']}/comments", {"body": "again"}, format="json").json()
    # when / then: mallory (and bob, for the post) are refused
    assert raw_client(mallory).delete(f"/api/posts/{post['id']}").status_code == 403
    assert raw_client(bob).delete(f"/api/posts/{post['id']}").status_code == 403
    assert raw_client(mallory).delete(f"/api/comments/{comment['id']}").status_code == 403
    assert Post.objects.filter(pk=post["id"]).exists() and Comment.objects.count() == 2
    # the comment's author and the post's author may
    assert raw_client(bob).delete(f"/api/comments/{comment['id']}").status_code == 204
    assert raw_client(alice).delete(f"/api/comments/{second['id']}").status_code == 204
    assert raw_client(alice).delete(f"/api/posts/{post['id']}").status_code == 204


@pytest.mark.parametrize("direction", ["blocked_by_target", "blocking_target"])
def test_a_block_either_way_stops_follow_like_comment_and_direct_messages(direction):
    # given: alice and bob, with a post and a direct conversation from before the block
    alice, bob = UserFactory(), UserFactory()
    post = raw_client(bob).post("/api/posts", {"image": image_upload()}, format="multipart").json()
    conversation = direct_conversation(alice, bob)
    if direction == "blocked_by_target":
        Block.objects.create(blocker=bob, blocked=alice)
    else:
        Block.objects.create(blocker=alice, blocked=bob)
    client = raw_client(alice)
    # when / then
    assert client.post(f"/api/users/{bob.username}/follow").status_code == 403
    assert client.post(f"/api/posts/{post['id']}/like").status_code == 403
    assert client.post(f"/api/posts/{post['id']}/comments", {"body": "hey"}, format="json").status_code == 403
    assert client.post("/api/conversations", {"usernames": [bob.username]}, format="json").status_code == 403
    assert client.post(
        f"/api/conversations/{conversation}/messages", {"body": "hi", "client_id": client_id()}, format="json"
    ).status_code == 403
    assert raw_client(bob).post(
        f"/api/conversations/{conversation}/messages", {"body": "hi", "client_id": client_id()}, format="json"
    ).status_code == 403
    # and a mention in a comment elsewhere does not notify across the block
    other = raw_client(alice).post("/api/posts", {"image": image_upload()}, format="multipart").json()
    client.post(f"/api/posts/{other['id']}/comments", {"body": f"@{bob.username} look"}, format="json")
    assert not Notification.objects.filter(recipient=bob).exists()
    assert not Notification.objects.filter(recipient=alice, actor=bob).exists()


def test_a_group_with_someone_who_blocked_you_cannot_be_opened():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    Block.objects.create(blocker=carol, blocked=alice)
    response = raw_client(alice).post("/api/conversations", {"usernames": [bob.username, carol.username]}, format="json")
    assert response.status_code == 403
    assert not Participant.objects.filter(user=carol).exists()


def test_a_deactivated_account_is_gone_from_every_lookup():
    alice, ghost = UserFactory(), UserFactory()
    ghost.is_active = False
    ghost.save()
    client = raw_client(alice)
    assert client.get(f"/api/users/{ghost.username}").status_code == 404
    assert client.post(f"/api/users/{ghost.username}/follow").status_code == 404
    assert client.post("/api/conversations", {"usernames": [ghost.username]}, format="json").status_code == 400
    assert client.get("/api/users", {"q": ghost.username}).json()["results"] == []


# (a) Object access over the websocket


@pytest.mark.django_db(transaction=True)
async def test_socket_frames_on_someone_elses_conversation_are_not_found_and_reach_nobody(ws_cleanup):
    from tests.ws_helpers import make_user_with_token, open_conversation, open_socket, receive_json, send, send_message

    # given: alice and bob talk; mallory has a socket
    alice, _ = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    mallory, mallory_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    message = await send_message(alice, conversation, "secret")
    bob_tab, _ = await open_socket(bob_token)
    tab, _ = await open_socket(mallory_token)
    # when: mallory tries each frame on it
    frames = [
        {"type": "message.send", "ref": "s", "conversation": conversation, "body": "hi", "client_id": client_id()},
        {"type": "message.read", "ref": "r", "conversation": conversation, "message_id": message.pk},
        {"type": "typing", "ref": "t", "conversation": conversation},
    ]
    for frame in frames:
        await send(tab, frame)
        reply = await receive_json(tab)
        # then
        assert reply == {"type": "error", "ref": frame["ref"], "code": "not_found", "detail": "No such conversation."}
    assert await bob_tab.receive_nothing(timeout=0.3)
    # and a replay from the start holds none of their events
    await send(tab, {"type": "resume", "after": 0})
    assert (await receive_json(tab))["type"] == "resumed"
    await tab.disconnect()
    await bob_tab.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_logged_out_token_opens_no_socket(ws_cleanup):
    from asgiref.sync import sync_to_async

    from tests.ws_helpers import communicator, make_user_with_token, receive_close

    # given: a token, revoked by logout over REST
    user, token = await make_user_with_token()

    @sync_to_async
    def logout():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client.post("/api/auth/logout").status_code

    assert await logout() == 204
    # when
    comm = communicator(token=token)
    connected, _ = await comm.connect(timeout=3)
    # then: accepted only to be told 4401
    assert connected
    assert await receive_close(comm) == 4401


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://localhost.evil.example",
        "http://evil.example/localhost",
        "http://evil.example#@localhost",
        "file://localhost",
        "chrome-extension://localhost",
        "",
    ],
)
async def test_a_page_elsewhere_cannot_ride_the_victims_session_cookie(origin, ws_cleanup):
    from asgiref.sync import sync_to_async

    from tests.ws_helpers import communicator

    # given: the victim's session cookie, sent by the browser from a page on another origin
    @sync_to_async
    def session_cookie():
        client = Client()
        client.force_login(UserFactory())
        return client.cookies["sessionid"].value

    cookie = await session_cookie()
    comm = communicator(headers=[(b"origin", origin.encode()), (b"cookie", f"sessionid={cookie}".encode())])
    # when
    connected, code = await comm.connect(timeout=3)
    # then: the handshake is refused outright
    assert not connected and code == 1008


# (c) Authentication: credentials at rest, sessions, CSRF, passwords, login errors


def test_tokens_are_stored_as_sha256_digests_only():
    # when
    response = APIClient().post(
        "/api/auth/register", {"username": "newbie", "email": "n@example.com", "password": PASSWORD}, format="json"
    )
    key = response.json()["token"]
    # then
    stored = ApiToken.objects.get(user__username="newbie")
    assert stored.digest == digest(key) != key
    assert not ApiToken.objects.filter(digest=key).exists()
    assert User.objects.get(username="newbie").password.startswith(("argon2", "md5"))  # hashed, never the password


def test_login_answers_the_same_for_an_unknown_name_a_wrong_password_and_a_deactivated_account():
    UserFactory(username="alice")
    UserFactory(username="gone", is_active=False)
    client = APIClient()
    answers = [
        client.post("/api/auth/login", {"username": name, "password": password}, format="json")
        for name, password in (("nobody", PASSWORD), ("alice", "wrong-password-1"), ("gone", PASSWORD))
    ]
    assert {r.status_code for r in answers} == {400}
    assert [r.json() for r in answers] == [{"detail": "Wrong username or password.", "code": "invalid_credentials"}] * 3


def test_login_rotates_the_session_so_a_planted_session_id_is_worthless():
    # given: a session the attacker knows (an anonymous one, e.g. planted by a sibling domain)
    UserFactory(username="alice")
    browser = Client()
    browser.get("/login")
    session = browser.session
    session["planted"] = True
    session.save()
    planted = session.session_key
    browser.cookies["sessionid"] = planted
    # when
    response = browser.post(
        "/api/auth/login", json.dumps({"username": "alice", "password": PASSWORD}), content_type="application/json"
    )
    # then: the victim's signed-in session has a new key; the planted one is not signed in
    assert response.status_code == 200
    assert browser.cookies["sessionid"].value != planted
    attacker = Client()
    attacker.cookies["sessionid"] = planted
    assert attacker.get("/api/me").status_code in (401, 403)


def test_session_writes_need_the_csrf_token_and_token_writes_do_not():
    # given: a browser signed in with a session
    alice = UserFactory(username="alice")
    browser = Client(enforce_csrf_checks=True)
    browser.get("/login")
    browser.post("/api/auth/login", json.dumps({"username": "alice", "password": PASSWORD}), content_type="application/json")
    body = json.dumps({"up_to": 1})
    # when / then
    assert browser.post("/api/notifications/read", body, content_type="application/json").status_code == 403
    assert browser.post("/api/notifications/read", body, content_type="application/json", HTTP_X_CSRFTOKEN="forged" * 6).status_code == 403
    assert browser.post("/api/auth/logout", content_type="application/json").status_code == 403
    token = browser.cookies["csrftoken"].value
    assert browser.post("/api/notifications/read", body, content_type="application/json", HTTP_X_CSRFTOKEN=token).status_code == 200
    tokens = APIClient(enforce_csrf_checks=True)
    tokens.credentials(HTTP_AUTHORIZATION=f"Token {raw_client(alice)._credentials['HTTP_AUTHORIZATION'].split()[1]}")
    assert tokens.post("/api/notifications/read", {"up_to": 1}, format="json").status_code == 200


def test_a_bad_token_is_not_rescued_by_a_session_cookie():
    alice = UserFactory()
    browser = APIClient()
    browser.force_login(alice)
    assert browser.get("/api/me").status_code == 200
    assert browser.get("/api/me", HTTP_AUTHORIZATION="Token not-a-token").status_code == 401


def test_logout_revokes_the_token_it_was_called_with():
    alice = UserFactory()
    client = raw_client(alice)
    other = raw_client(alice)
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/me").status_code == 401
    assert other.get("/api/me").status_code == 200  # another device's token stays


@pytest.mark.parametrize(
    ("password", "why"),
    [("short1!", "too short"), ("password123", "too common"), ("84736251948", "entirely numeric"), ("alice.wonder", "too similar")],
)
def test_registration_refuses_weak_passwords(password, why):
    response = APIClient().post(
        "/api/auth/register", {"username": "alice.wonder", "email": "a@example.com", "password": password}, format="json"
    )
    assert response.status_code == 400, why
    assert "password" in response.json()["fields"]
    assert not User.objects.filter(username="alice.wonder").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("username", "x" * 65), ("username", "a b"), ("username", "<script>"), ("email", "x" * 250 + "@e.co"), ("password", "p" * 257)],
)
def test_registration_bounds_every_field(field, value):
    body = {"username": "fine_name", "email": "fine@example.com", "password": PASSWORD, field: value}
    response = raw_client().post("/api/auth/register", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


# (e) Production settings


PRODUCTION_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "debug": settings.DEBUG,
    "session_secure": settings.SESSION_COOKIE_SECURE, "session_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "session_samesite": settings.SESSION_COOKIE_SAMESITE, "csrf_secure": settings.CSRF_COOKIE_SECURE,
    "csrf_samesite": settings.CSRF_COOKIE_SAMESITE, "hsts": settings.SECURE_HSTS_SECONDS,
    "hsts_subdomains": settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "proxy_ssl": list(settings.SECURE_PROXY_SSL_HEADER or []), "nosniff": settings.SECURE_CONTENT_TYPE_NOSNIFF,
    "frame": settings.X_FRAME_OPTIONS, "hosts": settings.ALLOWED_HOSTS, "renderers": settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"],
}))
"""


def run_settings(**env_vars):
    import os
    import subprocess
    import sys

    keep = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "HTTPS", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS")}
    code = "import django; django.setup()\n" + PRODUCTION_SETTINGS
    return subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60,
        env={**keep, "DJANGO_SETTINGS_MODULE": "config.settings", **env_vars},
    )


def test_production_cookies_are_secure_httponly_samesite_with_hsts():
    from cryptography.fernet import Fernet

    result = run_settings(DEBUG="0", SECRET_KEY="k3y-" + Fernet.generate_key().decode(), FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(), ALLOWED_HOSTS="instaclone.example")
    config = json.loads(result.stdout)
    assert config["debug"] is False
    assert config["session_secure"] and config["session_httponly"] and config["session_samesite"] == "Lax"
    assert config["csrf_secure"] and config["csrf_samesite"] == "Lax"
    assert config["hsts"] >= 31536000 and config["hsts_subdomains"] and config["ssl_redirect"]
    assert config["proxy_ssl"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert config["nosniff"] and config["frame"] == "DENY"
    assert config["hosts"] == ["instaclone.example"]
    assert config["renderers"] == ["rest_framework.renderers.JSONRenderer"]  # no browsable API


def test_with_debug_off_a_server_error_is_json_without_a_traceback(settings, monkeypatch):
    # given: DEBUG off, and a selector that blows up
    settings.DEBUG = False
    import notifications.api

    def explode(**kwargs):
        raise RuntimeError("internal detail: /srv/secret/path")

    monkeypatch.setattr(notifications.api.selectors, "notification_list_for_user", explode)
    # when
    response = raw_client(UserFactory()).get("/api/notifications")
    # then
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Server error.", "code": "server_error"}
    assert b"Traceback" not in response.content and b"secret" not in response.content


def test_with_debug_off_an_unknown_page_is_a_plain_404(settings):
    settings.DEBUG = False
    response = Client().get("/no/such/page/../../etc")
    assert response.status_code == 404
    assert b"urlpatterns" not in response.content and b"Traceback" not in response.content


# (d) Uploads: whatever is sent, what is stored is a fresh JPEG


def polyglot_jpeg() -> bytes:
    """A valid JPEG whose comment segment holds an HTML page."""
    from tests.factories import image_bytes

    jpeg = image_bytes()
    payload = b"<html><script>alert(document.cookie)</script></html>"
    comment = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + comment + jpeg[2:]


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/svg+xml"),
        ("x.html", b"<html><script>alert(1)</script></html>", "text/html"),
        ("x.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg"),
    ],
)
def test_script_dressed_as_an_image_is_refused(name, data, content_type):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = raw_client(UserFactory())
    for path, method, field in (("/api/posts", "post", "image"), ("/api/me", "patch", "avatar")):
        response = getattr(client, method)(path, {field: SimpleUploadedFile(name, data, content_type=content_type)}, format="multipart")
        assert response.status_code == 400, response.content
        assert field in response.json()["fields"]


def test_a_polyglot_image_is_stored_re_encoded_without_its_payload(settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    # given
    upload = SimpleUploadedFile("x.html", polyglot_jpeg(), content_type="text/html")
    # when
    post = raw_client(UserFactory()).post("/api/posts", {"image": upload}, format="multipart").json()
    # then
    stored = Post.objects.get(pk=post["id"])
    for name in (stored.image.name, stored.thumbnail.name):
        assert name.endswith(".jpg") and "x.html" not in name
        assert b"<script>" not in (settings.MEDIA_ROOT / name).read_bytes()
    assert post["image_url"].endswith(".jpg")


# (b) Input bounds: ids, lists and query parameters


@pytest.mark.parametrize("big", ["2147483648", str(2**63), "9" * 30])
def test_ids_beyond_the_integer_range_are_404(big):
    client = raw_client(UserFactory())
    for method, path in (
        ("get", f"/api/posts/{big}"),
        ("delete", f"/api/posts/{big}"),
        ("post", f"/api/posts/{big}/like"),
        ("get", f"/api/posts/{big}/comments"),
        ("delete", f"/api/comments/{big}"),
        ("get", f"/api/conversations/{big}/messages"),
    ):
        response = getattr(client, method)(path)
        assert response.status_code == 404, (method, path, response.content)
    for body in ({"message_id": int(big)}, {"up_to": int(big)}):
        response = client.post("/api/notifications/read", body, format="json")
        assert response.status_code in (200, 400)


def test_list_and_query_inputs_are_bounded():
    client = raw_client(UserFactory())
    assert client.post("/api/conversations", {"usernames": ["someone"] * 52}, format="json").status_code == 400
    assert client.post("/api/conversations", {"usernames": ["x" * 31]}, format="json").status_code == 400
    assert client.post("/api/conversations", {"usernames": [{"a": 1}]}, format="json").status_code == 400
    assert client.get("/api/users", {"q": "a" * 31}).status_code == 400
    assert client.get("/api/users", {"q": "%_"}).status_code == 400
    assert client.get(f"/api/users/{'a' * 5000}").status_code == 404
    assert client.post("/api/posts/1/comments", {"body": "x" * 2201}, format="json").status_code in (400, 404)
    assert client.patch("/api/me", {"bio": "x" * 151}, format="json").status_code == 400
    assert client.patch("/api/me", {"full_name": "x" * 101}, format="json").status_code == 400


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("after", ["-1", "abc", "1e3", "9" * 25, "%00"])
async def test_a_bad_after_on_the_handshake_is_an_error_frame_and_the_socket_lives(after, ws_cleanup):
    from tests.ws_helpers import make_user_with_token, open_socket, receive_json, send

    _user, token = await make_user_with_token()
    comm, _ = await open_socket(token, query=f"after={after}")
    assert (await receive_json(comm))["code"] == "invalid"
    await send(comm, {"type": "ping"})
    assert await receive_json(comm) == {"type": "pong"}
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_oversized_query_string_authenticates_nobody(ws_cleanup):
    from tests.ws_helpers import communicator, make_user_with_token, receive_close

    _user, token = await make_user_with_token()
    comm = communicator(query=f"token={token}&pad={'x' * 5000}")
    connected, _ = await comm.connect(timeout=3)
    assert connected
    assert await receive_close(comm) == 4401


def test_an_unfollow_follow_loop_does_not_flood_the_targets_notifications():
    # given
    alice, bob = UserFactory(), UserFactory()
    client = raw_client(alice)
    # when
    for _ in range(5):
        assert client.post(f"/api/users/{bob.username}/follow").status_code == 201
        assert client.delete(f"/api/users/{bob.username}/follow").status_code == 200
    # then
    assert Notification.objects.filter(recipient=bob, verb="follow").count() == 1


def test_opening_conversations_is_throttled_like_sending(monkeypatch):
    # given: 2 message-scope writes a minute
    monkeypatch.setattr(ScopedThrottle, "THROTTLE_RATES", {**ScopedThrottle.THROTTLE_RATES, "message": "2/min"})
    alice = UserFactory()
    people = [UserFactory() for _ in range(3)]
    client = raw_client(alice)
    # when
    codes = [
        client.post("/api/conversations", {"usernames": [p.username for p in people]}, format="json").status_code
        for _ in range(3)
    ]
    # then: group opens stop at the rate; listing is not counted
    assert codes == [201, 201, 429]
    assert client.get("/api/conversations").status_code == 200


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "javascript:alert(1)", "/%0d%0aSet-Cookie:x=1"]
)
def test_login_next_never_leaves_the_site(target):
    # given: a signed-in person following a crafted login link
    browser = Client()
    browser.force_login(UserFactory())
    # when
    response = browser.get("/login", {"next": target})
    # then
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\")) and "\n" not in location
    # and the page handed to an anonymous visitor carries only a safe target
    page = Client().get("/login", {"next": target}).content.decode()
    assert 'data-next="/"' in page or "evil" not in page


def test_the_docker_image_defaults_to_production_mode():
    dockerfile = (Path(settings.BASE_DIR) / "Dockerfile").read_text()
    assert "ENV DEBUG=0" in dockerfile
    assert dockerfile.index("ENV DEBUG=0") < dockerfile.index("CMD")


def test_the_load_balancer_does_not_log_socket_tokens():
    conf = (Path(settings.BASE_DIR) / "deploy" / "nginx.conf").read_text()
    socket = conf[conf.index("location /ws/") :]
    socket = socket[: socket.index("}")]
    assert "access_log /var/log/nginx/access.log no_query;" in socket
    log_format = next(line for line in conf.splitlines() if line.startswith("log_format no_query"))
    assert "$request " not in log_format and "$args" not in log_format and "$request_uri" not in log_format


@pytest.mark.parametrize("blocker", ["author", "reader"])
def test_a_block_either_way_takes_the_author_out_of_the_feed(blocker):
    # given: bob followed alice before a block between them
    alice, bob = UserFactory(), UserFactory()
    assert raw_client(bob).post(f"/api/users/{alice.username}/follow").status_code == 201
    post = raw_client(alice).post("/api/posts", {"image": image_upload()}, format="multipart").json()
    assert [p["id"] for p in raw_client(bob).get("/api/feed").json()["results"]] == [post["id"]]
    # when
    if blocker == "author":
        Block.objects.create(blocker=alice, blocked=bob)
    else:
        Block.objects.create(blocker=bob, blocked=alice)
    # then
    assert raw_client(bob).get("/api/feed").json()["results"] == []
    assert [p["id"] for p in raw_client(alice).get("/api/feed").json()["results"]] == [post["id"]]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "a" * 64}, "SECRET_KEY is too weak"),
        ({"FIELD_ENCRYPTION_KEYS": "not-a-fernet-key"}, "FIELD_ENCRYPTION_KEYS"),
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
    ],
)
def test_production_refuses_weak_or_malformed_secrets(env, message):
    from cryptography.fernet import Fernet

    base = {"DEBUG": "0", "SECRET_KEY": "k3y-" + Fernet.generate_key().decode(), "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    result = run_settings(**{**base, **env})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.django_db(transaction=True)
async def test_socket_sends_share_the_message_throttle_with_rest(monkeypatch, ws_cleanup):
    from asgiref.sync import sync_to_async

    from tests.ws_helpers import make_user_with_token, open_conversation, open_socket, receive_json, send

    # given: 3 sends a minute; one already spent over REST
    monkeypatch.setattr(ScopedThrottle, "THROTTLE_RATES", {**ScopedThrottle.THROTTLE_RATES, "message": "3/min"})
    alice, token = await make_user_with_token()
    bob, _ = await make_user_with_token()
    conversation = await open_conversation(alice, bob)

    @sync_to_async
    def rest_send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client.post(f"/api/conversations/{conversation}/messages", {"body": "rest", "client_id": client_id()}, format="json").status_code

    assert await rest_send() == 201
    tab, _ = await open_socket(token)
    # when: the socket sends three more
    replies = []
    for n in range(3):
        await send(tab, {"type": "message.send", "ref": f"r{n}", "conversation": conversation, "body": "ws", "client_id": client_id()})
        replies.append(await receive_json(tab, skip=("presence", "event")))
    # then: two pass, the third is throttled and the socket lives
    assert [r["type"] for r in replies] == ["ack", "ack", "error"]
    assert replies[2]["code"] == "throttled"
    assert await sync_to_async(Message.objects.count)() == 3
    await send(tab, {"type": "ping"})
    assert await receive_json(tab, skip=("presence", "event")) == {"type": "pong"}
    await tab.disconnect()


def test_the_frontend_never_turns_data_into_markup_or_code():
    # User data reaches the page through text nodes and attributes set one by one (util.js `h`).
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "srcdoc", "javascript:")
    scripts = list((Path(settings.BASE_DIR) / "frontend" / "static" / "frontend").rglob("*.js"))
    assert len(scripts) > 5
    for script in scripts:
        text = script.read_text()
        for sink in sinks:
            assert sink not in text or f"never through {sink}" in text, f"{script.name} uses {sink}"
    # and the templates autoescape everything they print
    for template in (Path(settings.BASE_DIR) / "frontend" / "templates" / "frontend").glob("*.html"):
        text = template.read_text()
        assert "|safe" not in text and "autoescape off" not in text, template.name


def test_markup_in_user_fields_comes_back_as_data_and_pages_escape_it():
    # given: a profile and a conversation title full of markup
    evil = UserFactory(username="evil_one", full_name='"><img src=x onerror=alert(1)>')
    alice = UserFactory()
    conversation = direct_conversation(alice, evil)
    page = Client()
    page.force_login(alice)
    # when
    html = page.get(f"/inbox/{conversation}").content.decode() + page.get("/search", {"q": '"><script>x</script>'}).content.decode()
    profile = raw_client(alice).get("/api/users/evil_one").json()
    # then: the API returns the text as text, and no page prints it unescaped
    assert profile["full_name"] == '"><img src=x onerror=alert(1)>'
    assert "<img src=x" not in html and "<script>x</script>" not in html


def test_the_api_docs_page_loads_no_script_from_another_origin():
    import re

    page = Client().get("/api/docs/")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.content.decode())
    assert sources and all(src.startswith(("/", "#")) for src in sources), sources
    asset = next(src for src in sources if src.endswith("swagger-ui-bundle.js"))
    assert Client().get(asset).status_code == 200
