"""Input bounds: cursors, ids, lists, query parameters and request bodies are bounded; bad input is a 4xx, never a 500."""

import base64
import json

import pytest
from django.test import Client

from tests.factories import PASSWORD, UserFactory, client_id
from tests.security.helpers import raw_client

pytestmark = pytest.mark.django_db


def cursor(position: str) -> str:
    return base64.b64encode(f"p={position}".encode()).decode()


@pytest.mark.parametrize(
    "path",
    [
        "/api/feed",
        "/api/notifications",
        "/api/conversations",
        "/api/users",
        "/api/users/{name}/followers",
        "/api/users/{name}/posts",
        "/api/users/{name}/stories",
    ],
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


@pytest.mark.django_db(transaction=True)
async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(settings, ws_cleanup):
    from channels.testing import HttpCommunicator

    from asgi import application

    # given: a request that announces 100 MB of multipart to an endpoint that takes none
    settings.REQUEST_MAX_BYTES = 4096
    headers = [
        (b"host", b"localhost"),
        (b"content-type", b"multipart/form-data; boundary=x"),
        (b"content-length", str(100 * 1024 * 1024).encode()),
    ]
    # when
    response = await HttpCommunicator(
        application, "POST", "/api/notifications/read", body=b"--x", headers=headers
    ).get_response()
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
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": "/api/auth/login",
        "raw_path": b"/api/auth/login",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "headers": [(b"host", b"localhost"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
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
    headers = [
        (b"host", b"localhost"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    response = await HttpCommunicator(application, "POST", "/api/auth/login", body=body, headers=headers).get_response()
    assert response["status"] == 400
    assert json.loads(response["body"])["fields"] == {"password": ["This field may not be blank."]}


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
