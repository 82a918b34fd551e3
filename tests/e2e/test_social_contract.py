"""Private accounts, follow requests, carousels, edits, saves, hashtags and explore
(DESIGN 6.1-6.3) checked from outside, like a client that never read our code: one real
daphne node, plain httpx and websockets, exact key sets and status codes, the live
`post.update` / `post.delete` frames, and the refusals: a stranger gets 403 `private` on a
private account's posts and lists, and nothing through any other door."""

import json
import time
import uuid

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.e2e.contract import Account, register_account
from tests.factories import image_bytes
from tests.servers import fresh_node

PASSWORD = "correct-horse-battery-9"

USER_BRIEF = {"id", "username", "full_name", "avatar_url"}
POST = {
    "id",
    "author",
    "image_url",
    "thumbnail_url",
    "images",
    "caption",
    "created_at",
    "edited_at",
    "like_count",
    "comment_count",
    "liked_by_me",
    "saved_by_me",
}
IMAGE = {"url", "thumbnail_url", "width", "height"}
FOLLOW_REQUEST = {"id", "user", "created_at"}
NOTIFICATION = {"id", "verb", "actor", "post", "comment", "created_at", "read"}


@pytest.fixture(scope="module")
def node():
    with fresh_node("social") as server:
        yield server


@pytest.fixture
def http(node):
    with httpx.Client(base_url=node.http, timeout=30) as client:
        yield client


def register(http: httpx.Client) -> Account:
    account, user = register_account(http, prefix="p", password=PASSWORD)
    assert user["is_private"] is False and user["follow_status"] == "none"
    return account


def publish(http: httpx.Client, account: Account, caption: str = "", count: int = 1) -> dict:
    files = [
        ("image", (f"p{i}.jpg", image_bytes(size=(40 + i, 30), color=(30 * i, 80, 160)), "image/jpeg"))
        for i in range(count)
    ]
    response = http.post("/api/posts", headers=account.auth, files=files, data={"caption": caption})
    assert response.status_code == 201, response.text
    post = response.json()
    assert_post(post)
    return post


def assert_post(post: dict) -> None:
    assert set(post) == POST, post
    assert set(post["author"]) == USER_BRIEF
    assert all(set(image) == IMAGE for image in post["images"])
    assert post["image_url"] == post["images"][0]["url"]
    assert isinstance(post["saved_by_me"], bool) and isinstance(post["liked_by_me"], bool)


def receive_type(ws, wanted: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {wanted} frame within {timeout} s"
        frame = json.loads(ws.recv(timeout=remaining))
        if frame["type"] == wanted:
            return frame


def frames_for(ws, seconds: float) -> list[dict]:
    got = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            got.append(json.loads(ws.recv(timeout=remaining)))
        except TimeoutError:
            break
    return got


def notifications(http: httpx.Client, account: Account) -> list[dict]:
    body = http.get("/api/notifications", headers=account.auth).json()
    for row in body["results"]:
        assert set(row) == NOTIFICATION
    return body["results"]


def test_request_accept_and_the_posts_open_up(http, node):
    owner, asker = register(http), register(http)
    made_private = http.patch("/api/me", headers=owner.auth, json={"is_private": True})
    assert made_private.status_code == 200 and made_private.json()["is_private"] is True
    post = publish(http, owner, "only #friends")

    with ws_connect(node.ws, additional_headers=owner.auth) as owner_ws:
        assert json.loads(owner_ws.recv(timeout=10))["type"] == "hello"
        asked = http.post(f"/api/users/{owner.username}/follow", headers=asker.auth)
        assert asked.status_code == 202 and asked.json() == {"status": "requested"}
        again = http.post(f"/api/users/{owner.username}/follow", headers=asker.auth)
        assert again.status_code == 200 and again.json() == {"status": "requested"}
        event = receive_type(owner_ws, "event")
        assert event["event"] == "notification.new" and event["data"]["verb"] == "follow_request"
        assert event["data"]["actor"]["id"] == asker.id

    profile = http.get(f"/api/users/{owner.username}", headers=asker.auth).json()
    assert profile["follow_status"] == "requested" and profile["is_following"] is False
    refused = http.get(f"/api/posts/{post['id']}", headers=asker.auth)
    assert refused.status_code == 403 and refused.json()["code"] == "private"

    requests = http.get("/api/me/follow-requests", headers=owner.auth).json()
    assert set(requests) == {"results", "next"}
    [pending] = requests["results"]
    assert set(pending) == FOLLOW_REQUEST and set(pending["user"]) == USER_BRIEF
    assert pending["user"]["id"] == asker.id
    stolen = http.post(f"/api/follow-requests/{pending['id']}/accept", headers=asker.auth)
    assert stolen.status_code == 404 and stolen.json()["code"] == "not_found"

    assert http.post(f"/api/follow-requests/{pending['id']}/accept", headers=owner.auth).status_code == 204
    assert [n["verb"] for n in notifications(http, asker)] == ["follow_accept"]
    profile = http.get(f"/api/users/{owner.username}", headers=asker.auth).json()
    assert profile["follow_status"] == "following" and profile["follower_count"] == 1
    assert http.get(f"/api/posts/{post['id']}", headers=asker.auth).status_code == 200
    assert [p["id"] for p in http.get("/api/feed", headers=asker.auth).json()["results"]] == [post["id"]]
    assert [p["id"] for p in http.get("/api/tags/friends/posts", headers=asker.auth).json()["results"]] == [post["id"]]


def test_a_stranger_gets_403_private_or_nothing_through_every_door(http, node):
    owner, stranger = register(http), register(http)
    http.patch("/api/me", headers=owner.auth, json={"is_private": True})
    post = publish(http, owner, f"#hush{uuid.uuid4().hex[:6]} secret")
    tag = post["caption"].split()[0][1:]

    for method, path in (
        ("GET", f"/api/posts/{post['id']}"),
        ("GET", f"/api/users/{owner.username}/posts"),
        ("GET", f"/api/users/{owner.username}/followers"),
        ("GET", f"/api/users/{owner.username}/following"),
        ("GET", f"/api/posts/{post['id']}/comments"),
        ("POST", f"/api/posts/{post['id']}/comments"),
        ("POST", f"/api/posts/{post['id']}/like"),
        ("POST", f"/api/posts/{post['id']}/save"),
    ):
        response = http.request(method, path, headers=stranger.auth, json={"body": "hi"} if method == "POST" else None)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json() == {"detail": "This account is private.", "code": "private"}

    # the profile with its counts stays visible; search finds the person, not the posts
    profile = http.get(f"/api/users/{owner.username}", headers=stranger.auth)
    assert profile.status_code == 200 and profile.json()["post_count"] == 1
    found = http.get("/api/users", params={"q": owner.username}, headers=stranger.auth).json()["results"]
    assert [u["username"] for u in found] == [owner.username]
    assert set(found[0]) == set(profile.json())
    # every other door is empty
    assert http.get("/api/feed", headers=stranger.auth).json()["results"] == []
    assert http.get(f"/api/tags/{tag}/posts", headers=stranger.auth).json()["results"] == []
    explore = [
        p["id"] for p in http.get("/api/explore", params={"limit": 100}, headers=stranger.auth).json()["results"]
    ]
    assert post["id"] not in explore
    assert http.get("/api/me/saved", headers=stranger.auth).json()["results"] == []
    assert notifications(http, owner) == []

    # and the socket: an edit or a delete pushes nothing to a stranger
    with ws_connect(node.ws, additional_headers=stranger.auth) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        publish(http, owner, "another")
        assert http.patch(f"/api/posts/{post['id']}", headers=owner.auth, json={"caption": "x"}).status_code == 200
        assert http.delete(f"/api/posts/{post['id']}", headers=owner.auth).status_code == 204
        leaked = [f for f in frames_for(ws, 2.0) if f["type"] in ("feed.post", "post.update", "post.delete")]
        assert leaked == []


def test_media_names_cannot_be_guessed(http, node):
    owner = register(http)
    http.patch("/api/me", headers=owner.auth, json={"is_private": True})
    post = publish(http, owner, count=2)
    urls = [u for image in post["images"] for u in (image["url"], image["thumbnail_url"])]
    assert len(set(urls)) == 4
    for url in urls:
        assert http.get(url).status_code == 200
        stem = url.rsplit("/", 1)[1].split(".")[0]
        # 128 random bits (hex), nothing from the post, the person or the upload's name
        assert len(stem) >= 32 and int(stem, 16) > 2**64 and owner.username not in url and "p0" not in stem
        # neighbours of a real name, and the names a client might try from what it knows
        prefix = url.rsplit("/", 1)[0]
        for guess in (
            f"{prefix}/{post['id']}.jpg",
            f"{prefix}/p0.jpg",
            f"{prefix}/{stem[:-1]}{'0' if stem[-1] != '0' else '1'}.jpg",
            f"{prefix}/{owner.username}.jpg",
        ):
            assert http.get(guess).status_code == 404, guess


def test_carousel_edit_delete_live_and_saves(http, node):
    author, follower = register(http), register(http)
    assert http.post(f"/api/users/{author.username}/follow", headers=follower.auth).status_code == 201
    with ws_connect(node.ws, additional_headers=follower.auth) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        post = publish(http, author, "three #Photos", count=3)
        assert [(i["width"], i["height"]) for i in post["images"]] == [(40, 30), (41, 30), (42, 30)]
        assert receive_type(ws, "feed.post")["data"]["id"] == post["id"]

        edited = http.patch(f"/api/posts/{post['id']}", headers=author.auth, json={"caption": "edited #photos"})
        assert edited.status_code == 200 and edited.json()["edited_at"]
        assert_post(edited.json())
        update = receive_type(ws, "post.update")
        assert set(update) == {"type", "data"}
        assert_post(update["data"])
        assert update["data"]["caption"] == "edited #photos" and update["data"]["edited_at"]

        refused = http.patch(f"/api/posts/{post['id']}", headers=follower.auth, json={"caption": "mine"})
        assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"

        saved = http.post(f"/api/posts/{post['id']}/save", headers=follower.auth)
        assert saved.status_code == 201 and saved.json()["saved_by_me"] is True
        assert http.post(f"/api/posts/{post['id']}/save", headers=follower.auth).status_code == 200
        listed = http.get("/api/me/saved", headers=follower.auth).json()
        assert [p["id"] for p in listed["results"]] == [post["id"]] and listed["next"] is None
        assert http.get(f"/api/posts/{post['id']}", headers=author.auth).json()["saved_by_me"] is False

        assert http.delete(f"/api/posts/{post['id']}", headers=author.auth).status_code == 204
        assert receive_type(ws, "post.delete") == {"type": "post.delete", "data": {"id": post["id"]}}
    assert http.get("/api/me/saved", headers=follower.auth).json()["results"] == []


def test_tags_and_explore(http, node):
    author, viewer = register(http), register(http)
    name = f"lake{uuid.uuid4().hex[:8]}"
    first = publish(http, author, f"#{name.upper()} morning")
    second = publish(http, author, f"evening at #{name}")
    assert http.get(f"/api/tags/{name}", headers=viewer.auth).json() == {"name": name, "post_count": 2}
    page = http.get(f"/api/tags/{name}/posts", headers=viewer.auth).json()
    assert set(page) == {"results", "next"} and [p["id"] for p in page["results"]] == [second["id"], first["id"]]
    assert http.get("/api/tags", params={"q": name[:8]}, headers=viewer.auth).json()[0] == {
        "name": name,
        "post_count": 2,
    }
    missing = http.get("/api/tags/nosuchtag" + uuid.uuid4().hex[:6], headers=viewer.auth)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"

    assert http.post(f"/api/posts/{first['id']}/like", headers=viewer.auth).status_code == 201
    explore = http.get("/api/explore", params={"limit": 100}, headers=viewer.auth).json()
    assert set(explore) == {"results", "next"}
    ids = [p["id"] for p in explore["results"]]
    assert ids.index(first["id"]) < ids.index(second["id"])  # more engagement first
    for post in explore["results"]:
        assert_post(post)
    # following the author takes their posts out of explore
    http.post(f"/api/users/{author.username}/follow", headers=viewer.auth)
    ids = [p["id"] for p in http.get("/api/explore", params={"limit": 100}, headers=viewer.auth).json()["results"]]
    assert first["id"] not in ids and second["id"] not in ids
    bad = http.get("/api/explore", params={"cursor": "garbage"}, headers=viewer.auth)
    assert bad.status_code == 404 and bad.json()["code"] == "not_found"
