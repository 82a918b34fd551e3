"""The wire contract (docs/api.md and docs/websocket.md) checked from outside, like a client that never
read our code: one real daphne node, plain httpx and websockets, exact key sets and status
codes, and bad input everywhere answered with a JSON 4xx."""

import io
import json
import uuid

import httpx
import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.e2e.contract import Account
from tests.factories import image_bytes
from tests.servers import fresh_node

PASSWORD = "correct-horse-battery-9"

USER_BRIEF = {"id", "username", "full_name", "avatar_url"}
PROFILE = {
    "id",
    "username",
    "full_name",
    "bio",
    "avatar_url",
    "follower_count",
    "following_count",
    "post_count",
    "is_following",
    "is_private",
    "follow_status",
}
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
COMMENT = {"id", "post", "author", "body", "created_at"}
CONVERSATION = {
    "id",
    "participants",
    "last_message",
    "unread_count",
    "status",
    "muted",
    "title",
    "is_group",
    "read_positions",
}
MESSAGE = {
    "id",
    "conversation",
    "sender",
    "body",
    "client_id",
    "created_at",
    "kind",
    "image_url",
    "thumbnail_url",
    "reply_to",
    "reactions",
    "edited_at",
    "deleted",
}
NOTIFICATION = {"id", "verb", "actor", "post", "comment", "created_at", "read"}


@pytest.fixture(scope="module")
def node():
    with fresh_node("contract") as server:
        yield server


@pytest.fixture
def http(node):
    with httpx.Client(base_url=node.http, timeout=30) as client:
        yield client


def new_name() -> str:
    return f"u{uuid.uuid4().hex[:12]}"


def register(http: httpx.Client, username: str | None = None) -> Account:
    username = username or new_name()
    response = http.post(
        "/api/auth/register", json={"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"user", "token"}
    assert_profile(body["user"])
    return Account(body["user"]["username"], body["token"], body["user"]["id"])


def assert_brief(user: dict) -> None:
    assert set(user) == USER_BRIEF, user
    assert isinstance(user["id"], int) and isinstance(user["username"], str)


def assert_profile(user: dict) -> None:
    assert set(user) == PROFILE, user
    for count in ("follower_count", "following_count", "post_count"):
        assert isinstance(user[count], int)
    assert isinstance(user["is_following"], bool)


def assert_post(post: dict) -> None:
    assert set(post) == POST, post
    assert_brief(post["author"])
    assert isinstance(post["liked_by_me"], bool)


def assert_comment(comment: dict) -> None:
    assert set(comment) == COMMENT, comment
    assert isinstance(comment["post"], int)
    assert_brief(comment["author"])


def assert_message(message: dict) -> None:
    assert set(message) == MESSAGE, message
    assert isinstance(message["conversation"], int)
    assert_brief(message["sender"])


def assert_conversation(conversation: dict) -> None:
    assert set(conversation) == CONVERSATION, conversation
    for user in conversation["participants"]:
        assert_brief(user)
    if conversation["last_message"] is not None:
        assert_message(conversation["last_message"])
    assert isinstance(conversation["unread_count"], int)


def assert_notification(notification: dict) -> None:
    assert set(notification) == NOTIFICATION, notification
    assert notification["verb"] in {"like", "comment", "follow", "mention"}
    assert_brief(notification["actor"])
    assert isinstance(notification["read"], bool)


def assert_page(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"results", "next"}
    assert body["next"] is None or body["next"].startswith("http")
    return body["results"]


def assert_error(response: httpx.Response, status: int, code: str | None = None, fields: set | None = None) -> dict:
    """A JSON error body `{"detail", "code", "fields"?}` with the expected status."""
    assert response.status_code == status, (
        response.request.method,
        response.request.url,
        response.status_code,
        response.text[:500],
    )
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"]
    assert isinstance(body.get("code"), str) and body["code"]
    assert set(body) <= {"detail", "code", "fields"}
    if code is not None:
        assert body["code"] == code, body
    if status == 400 and body["code"] == "invalid":
        assert isinstance(body.get("fields"), dict) and body["fields"], body
    if fields is not None:
        assert set(body["fields"]) == fields, body
    return body


def megapixels_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def create_post(http: httpx.Client, account: Account, caption: str = "sunset") -> dict:
    response = http.post(
        "/api/posts",
        headers=account.auth,
        data={"caption": caption},
        files={"image": ("photo.jpg", image_bytes(), "image/jpeg")},
    )
    assert response.status_code == 201, response.text
    return response.json()


# --- accounts: register, login, session + CSRF, logout ---------------------------------------


def test_register_and_login_return_user_and_token_and_open_a_session(http, node):
    # given
    name = new_name()
    # when
    registered = http.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    )
    # then
    assert registered.status_code == 201
    assert set(registered.json()) == {"user", "token"}
    assert_profile(registered.json()["user"])
    assert registered.json()["user"]["username"] == name
    assert {"sessionid", "csrftoken"} <= set(registered.cookies)

    with httpx.Client(base_url=node.http, timeout=30) as browser:
        login = browser.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert set(login.json()) == {"user", "token"}
        assert_profile(login.json()["user"])
        assert {"sessionid", "csrftoken"} <= set(browser.cookies)
        # The login token works on its own, without cookies.
        assert http.get("/api/me", headers={"Authorization": f"Token {login.json()['token']}"}).status_code == 200

        # A session write without X-CSRFToken is refused with a JSON 403; with it, it passes.
        assert_error(browser.patch("/api/me", json={"bio": "no csrf"}), 403, "csrf_failed")
        assert_error(
            browser.patch("/api/me", json={"bio": "bad csrf"}, headers={"X-CSRFToken": "x" * 32}), 403, "csrf_failed"
        )
        patched = browser.patch(
            "/api/me", json={"bio": "with csrf"}, headers={"X-CSRFToken": browser.cookies["csrftoken"]}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["bio"] == "with csrf"
        # A session read needs no CSRF token.
        assert browser.get("/api/me").json()["bio"] == "with csrf"

        # Logout ends the session.
        assert_error(browser.post("/api/auth/logout"), 403, "csrf_failed")
        logout = browser.post("/api/auth/logout", headers={"X-CSRFToken": browser.cookies["csrftoken"]})
        assert logout.status_code == 204
        assert browser.get("/api/me").status_code in (401, 403)


def test_logout_revokes_the_token_it_was_called_with(http):
    # given
    account = register(http)
    # when
    response = http.post("/api/auth/logout", headers=account.auth)
    # then
    assert response.status_code == 204
    assert_error(http.get("/api/me", headers=account.auth), 401)


def test_registration_and_login_refuse_bad_input(http):
    taken = register(http)
    valid = {"email": f"{new_name()}@example.com", "password": PASSWORD}
    assert_error(http.post("/api/auth/register", json={**valid, "username": "x" * 31}), 400, "invalid", {"username"})
    assert_error(http.post("/api/auth/register", json={**valid, "username": "ab"}), 400, "invalid", {"username"})
    assert_error(http.post("/api/auth/register", json={**valid, "username": "has space"}), 400, "invalid", {"username"})
    assert_error(
        http.post("/api/auth/register", json={**valid, "username": taken.username.upper()}),
        400,
        "invalid",
        {"username"},
    )
    assert_error(
        http.post("/api/auth/register", json={**valid, "username": new_name(), "email": "nope"}),
        400,
        "invalid",
        {"email"},
    )
    assert_error(
        http.post("/api/auth/register", json={**valid, "username": new_name(), "password": "123"}),
        400,
        "invalid",
        {"password"},
    )
    assert_error(http.post("/api/auth/register", json={}), 400, "invalid", {"username", "email", "password"})
    assert_error(http.post("/api/auth/register", json=[1, 2]), 400, "invalid")
    assert_error(http.post("/api/auth/register", json={"username": None, "email": 1, "password": {}}), 400, "invalid")
    assert_error(http.post("/api/auth/login", json={"username": taken.username, "password": "wrong-password-1"}), 400)
    assert_error(http.post("/api/auth/login", json={"username": "nobody_here", "password": PASSWORD}), 400)
    assert_error(http.post("/api/auth/login", json={"username": taken.username}), 400, "invalid", {"password"})


# --- profiles, search, follow ----------------------------------------------------------------


def test_me_profile_search_and_follow(http):
    # given
    alice, bob, carol = register(http), register(http), register(http)

    # GET / PATCH /api/me
    me = http.get("/api/me", headers=alice.auth)
    assert me.status_code == 200
    assert_profile(me.json())
    patched = http.patch("/api/me", headers=alice.auth, json={"bio": "b" * 150, "full_name": "Alice A."})
    assert patched.status_code == 200, patched.text
    assert_profile(patched.json())
    assert patched.json()["bio"] == "b" * 150 and patched.json()["full_name"] == "Alice A."
    assert_error(http.patch("/api/me", headers=alice.auth, json={"bio": "b" * 151}), 400, "invalid", {"bio"})
    assert http.get("/api/me", headers=alice.auth).json()["bio"] == "b" * 150

    # GET /api/users/{username}
    profile = http.get(f"/api/users/{bob.username}", headers=alice.auth)
    assert profile.status_code == 200
    assert_profile(profile.json())
    assert profile.json()["username"] == bob.username and profile.json()["is_following"] is False

    # follow: 201, then 200 with the same state
    first = http.post(f"/api/users/{bob.username}/follow", headers=alice.auth)
    assert first.status_code == 201, first.text
    assert_profile(first.json())
    assert first.json()["is_following"] is True and first.json()["follower_count"] == 1
    again = http.post(f"/api/users/{bob.username}/follow", headers=alice.auth)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert http.post(f"/api/users/{bob.username}/follow", headers=carol.auth).status_code == 201

    bob_seen = http.get(f"/api/users/{bob.username}", headers=alice.auth).json()
    assert bob_seen["is_following"] is True and bob_seen["follower_count"] == 2
    assert http.get(f"/api/users/{alice.username}", headers=bob.auth).json()["following_count"] == 1

    # lists: {"results", "next"}, cursor pages
    followers = assert_page(http.get(f"/api/users/{bob.username}/followers", headers=alice.auth))
    assert {u["username"] for u in followers} == {alice.username, carol.username}
    for user in followers:
        assert_profile(user)
    page = http.get(f"/api/users/{bob.username}/followers", headers=alice.auth, params={"limit": 1}).json()
    assert len(page["results"]) == 1 and page["next"]
    second = assert_page(http.get(page["next"], headers=alice.auth))
    assert len(second) == 1 and second[0]["id"] != page["results"][0]["id"]
    following = assert_page(http.get(f"/api/users/{alice.username}/following", headers=bob.auth))
    assert [u["username"] for u in following] == [bob.username]
    assert assert_page(http.get(f"/api/users/{bob.username}/posts", headers=alice.auth)) == []

    # search by username prefix
    found = assert_page(http.get("/api/users", headers=carol.auth, params={"q": bob.username[:8]}))
    assert bob.username in {u["username"] for u in found}
    for user in found:
        assert_profile(user)
        assert user["username"].lower().startswith(bob.username[:8].lower())
    assert assert_page(http.get("/api/users", headers=carol.auth, params={"q": "zzzzzzzzzzzz"})) == []
    assert_error(http.get("/api/users", headers=carol.auth, params={"q": "x" * 31}), 400, "invalid", {"q"})

    # unfollow: 200 and idempotent
    gone = http.delete(f"/api/users/{bob.username}/follow", headers=alice.auth)
    assert gone.status_code == 200
    assert gone.json()["is_following"] is False and gone.json()["follower_count"] == 1
    assert http.delete(f"/api/users/{bob.username}/follow", headers=alice.auth).status_code == 200
    assert http.get(f"/api/users/{bob.username}", headers=alice.auth).json()["is_following"] is False

    # unknown users and self-follow
    assert_error(http.get("/api/users/no_such_user_x", headers=alice.auth), 404, "not_found")
    assert_error(http.post("/api/users/no_such_user_x/follow", headers=alice.auth), 404, "not_found")
    assert_error(http.get("/api/users/no_such_user_x/followers", headers=alice.auth), 404, "not_found")
    assert_error(http.post(f"/api/users/{alice.username}/follow", headers=alice.auth), 400)


# --- posts, feed, likes, comments, notifications --------------------------------------------------


def test_posts_feed_likes_comments_and_notifications(http, node):
    # given
    alice, bob, carol = register(http), register(http), register(http)
    assert http.post(f"/api/users/{alice.username}/follow", headers=bob.auth).status_code == 201

    # POST /api/posts: 201 with exactly the post fields
    older = create_post(http, alice, "first")
    post = create_post(http, alice, "second")
    assert_post(post)
    assert post["caption"] == "second" and post["author"]["username"] == alice.username
    assert post["like_count"] == 0 and post["comment_count"] == 0 and post["liked_by_me"] is False
    assert post["created_at"].endswith("Z") or post["created_at"].endswith("+00:00")
    for url in (post["image_url"], post["thumbnail_url"]):
        image = http.get(url)
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"

    # GET /api/posts/{id}
    fetched = http.get(f"/api/posts/{post['id']}", headers=bob.auth)
    assert fetched.status_code == 200
    assert fetched.json() == post

    # feed and the author's posts, newest first
    feed = assert_page(http.get("/api/feed", headers=bob.auth))
    assert [p["id"] for p in feed] == [post["id"], older["id"]]
    for item in feed:
        assert_post(item)
    assert [p["id"] for p in assert_page(http.get(f"/api/users/{alice.username}/posts", headers=carol.auth))] == [
        post["id"],
        older["id"],
    ]
    assert assert_page(http.get("/api/feed", headers=carol.auth)) == []
    assert http.get(f"/api/users/{alice.username}", headers=carol.auth).json()["post_count"] == 2

    # like: 201, then 200; unlike: 200, idempotent
    liked = http.post(f"/api/posts/{post['id']}/like", headers=bob.auth)
    assert liked.status_code == 201
    assert_post(liked.json())
    assert liked.json()["like_count"] == 1 and liked.json()["liked_by_me"] is True
    again = http.post(f"/api/posts/{post['id']}/like", headers=bob.auth)
    assert again.status_code == 200 and again.json()["like_count"] == 1
    assert http.get(f"/api/posts/{post['id']}", headers=bob.auth).json()["liked_by_me"] is True
    assert http.get(f"/api/posts/{post['id']}", headers=carol.auth).json()["liked_by_me"] is False
    unliked = http.delete(f"/api/posts/{post['id']}/like", headers=carol.auth)
    assert unliked.status_code == 200 and unliked.json()["like_count"] == 1
    unliked = http.delete(f"/api/posts/{post['id']}/like", headers=bob.auth)
    assert unliked.status_code == 200
    assert unliked.json()["like_count"] == 0 and unliked.json()["liked_by_me"] is False
    assert http.post(f"/api/posts/{post['id']}/like", headers=bob.auth).status_code == 201

    # comments, oldest first
    first = http.post(f"/api/posts/{post['id']}/comments", headers=bob.auth, json={"body": "nice"})
    assert first.status_code == 201, first.text
    assert_comment(first.json())
    assert first.json()["post"] == post["id"] and first.json()["body"] == "nice"
    mention = http.post(
        f"/api/posts/{post['id']}/comments", headers=carol.auth, json={"body": f"@{alice.username} wow"}
    )
    assert mention.status_code == 201
    longest = http.post(f"/api/posts/{post['id']}/comments", headers=carol.auth, json={"body": "c" * 2200})
    assert longest.status_code == 201
    comments = assert_page(http.get(f"/api/posts/{post['id']}/comments", headers=alice.auth))
    assert [c["id"] for c in comments] == [first.json()["id"], mention.json()["id"], longest.json()["id"]]
    for comment in comments:
        assert_comment(comment)
    assert http.get(f"/api/posts/{post['id']}", headers=alice.auth).json()["comment_count"] == 3
    assert_error(
        http.post(f"/api/posts/{post['id']}/comments", headers=bob.auth, json={"body": "c" * 2201}),
        400,
        "invalid",
        {"body"},
    )
    assert_error(http.post(f"/api/posts/{post['id']}/comments", headers=bob.auth, json={}), 400, "invalid", {"body"})
    assert_error(
        http.post(f"/api/posts/{post['id']}/comments", headers=bob.auth, json={"body": ""}), 400, "invalid", {"body"}
    )

    # DELETE /api/comments/{id}: the comment's author or the post's author only
    assert_error(http.delete(f"/api/comments/{first.json()['id']}", headers=carol.auth), 403)
    assert http.delete(f"/api/comments/{first.json()['id']}", headers=alice.auth).status_code == 204
    assert http.delete(f"/api/comments/{longest.json()['id']}", headers=carol.auth).status_code == 204
    assert_error(http.delete(f"/api/comments/{longest.json()['id']}", headers=carol.auth), 404, "not_found")
    assert [c["id"] for c in assert_page(http.get(f"/api/posts/{post['id']}/comments", headers=bob.auth))] == [
        mention.json()["id"]
    ]
    assert http.get(f"/api/posts/{post['id']}", headers=bob.auth).json()["comment_count"] == 1

    # notifications: follow, like, comment, and one `comment` (not also `mention`) for the author
    notifications = assert_page(http.get("/api/notifications", headers=alice.auth))
    for notification in notifications:
        assert_notification(notification)
    verbs = [(n["verb"], n["actor"]["username"]) for n in notifications]
    assert ("follow", bob.username) in verbs
    assert ("like", bob.username) in verbs
    assert ("comment", carol.username) in verbs
    assert ("mention", carol.username) not in verbs
    assert [n["id"] for n in notifications] == sorted((n["id"] for n in notifications), reverse=True)
    carol_comment = next(n for n in notifications if n["actor"]["username"] == carol.username)
    assert carol_comment["post"] == post["id"] and isinstance(carol_comment["comment"], int)
    assert all(n["read"] is False for n in notifications)
    newest = notifications[0]["id"]
    read = http.post("/api/notifications/read", headers=alice.auth, json={"up_to": newest})
    assert read.status_code == 200, read.text
    assert all(n["read"] is True for n in assert_page(http.get("/api/notifications", headers=alice.auth)))
    assert_error(http.post("/api/notifications/read", headers=alice.auth, json={}), 400, "invalid", {"up_to"})
    assert_error(
        http.post("/api/notifications/read", headers=alice.auth, json={"up_to": "x"}), 400, "invalid", {"up_to"}
    )
    # someone mentioned who is not the post's author gets `mention`
    http.post(f"/api/posts/{post['id']}/comments", headers=carol.auth, json={"body": f"look @{bob.username}"})
    bob_verbs = [
        (n["verb"], n["actor"]["username"]) for n in assert_page(http.get("/api/notifications", headers=bob.auth))
    ]
    assert bob_verbs == [("mention", carol.username)]

    # DELETE /api/posts/{id}: the author only
    assert_error(http.delete(f"/api/posts/{post['id']}", headers=bob.auth), 403)
    assert http.delete(f"/api/posts/{post['id']}", headers=alice.auth).status_code == 204
    assert_error(http.get(f"/api/posts/{post['id']}", headers=bob.auth), 404, "not_found")
    assert_error(http.delete(f"/api/posts/{post['id']}", headers=alice.auth), 404, "not_found")
    assert_error(http.post(f"/api/posts/{post['id']}/like", headers=bob.auth), 404, "not_found")
    assert_error(http.get(f"/api/posts/{post['id']}/comments", headers=bob.auth), 404, "not_found")
    assert_error(http.delete(f"/api/comments/{mention.json()['id']}", headers=carol.auth), 404, "not_found")
    assert [p["id"] for p in assert_page(http.get("/api/feed", headers=bob.auth))] == [older["id"]]
    assert http.get(f"/api/users/{alice.username}", headers=bob.auth).json()["post_count"] == 1


def test_uploads_refuse_non_images_long_captions_and_oversized_files(http):
    alice = register(http)
    assert_error(
        http.post("/api/posts", headers=alice.auth, files={"image": ("notes.txt", b"just text", "text/plain")}),
        400,
        "invalid",
        {"image"},
    )
    assert_error(
        http.post(
            "/api/posts", headers=alice.auth, files={"image": ("fake.jpg", b"\xff\xd8\xff" + b"0" * 500, "image/jpeg")}
        ),
        400,
        "invalid",
        {"image"},
    )
    assert_error(
        http.post(
            "/api/posts",
            headers=alice.auth,
            data={"caption": "c" * 2201},
            files={"image": ("a.jpg", image_bytes(), "image/jpeg")},
        ),
        400,
        "invalid",
        {"caption"},
    )
    assert_error(
        http.post("/api/posts", headers=alice.auth, files={"caption": (None, "no image")}), 400, "invalid", {"image"}
    )
    assert_error(http.post("/api/posts", headers=alice.auth, data={"caption": "form"}), 415, "unsupported_media_type")
    assert_error(http.post("/api/posts", headers=alice.auth, json={"caption": "json"}), 415, "unsupported_media_type")
    big = b"\xff\xd8\xff\xe0" + b"\0" * (10 * 1024 * 1024 + 10)
    assert_error(
        http.post("/api/posts", headers=alice.auth, files={"image": ("big.jpg", big, "image/jpeg")}), 413, "too_large"
    )
    huge = b"\0" * (12 * 1024 * 1024)
    assert_error(
        http.post("/api/posts", headers=alice.auth, files={"image": ("huge.jpg", huge, "image/jpeg")}), 413, "too_large"
    )
    assert_error(
        http.patch("/api/me", headers=alice.auth, files={"avatar": ("big.jpg", big, "image/jpeg")}), 413, "too_large"
    )
    # 42 megapixels in a few kilobytes: refused from the header, before decoding
    assert_error(
        http.post(
            "/api/posts", headers=alice.auth, files={"image": ("wide.png", megapixels_png(7000, 6000), "image/png")}
        ),
        413,
        "too_large",
    )
    assert_error(
        http.patch("/api/me", headers=alice.auth, files={"avatar": ("a.txt", b"text", "text/plain")}),
        400,
        "invalid",
        {"avatar"},
    )
    caption = "c" * 2200
    exact = http.post(
        "/api/posts",
        headers=alice.auth,
        data={"caption": caption},
        files={"image": ("a.png", image_bytes("PNG"), "image/png")},
    )
    assert exact.status_code == 201 and exact.json()["caption"] == caption
    avatar = http.patch("/api/me", headers=alice.auth, files={"avatar": ("a.png", image_bytes("PNG"), "image/png")})
    assert avatar.status_code == 200 and avatar.json()["avatar_url"]
    assert http.get(avatar.json()["avatar_url"]).status_code == 200
    assert http.get("/api/me", headers=alice.auth).json()["post_count"] == 1


# --- conversations and messages ------------------------------------------------------------------


def test_conversations_and_messages(http):
    # given: bob follows alice and carol, so their 1:1s land in his inbox, not his requests
    alice, bob, carol = register(http), register(http), register(http)
    for person in (alice, carol):
        assert http.post(f"/api/users/{person.username}/follow", headers=bob.auth).status_code in (200, 201)

    # POST /api/conversations: 201, then 200 with the existing 1:1 (from either side)
    opened = http.post("/api/conversations", headers=alice.auth, json={"usernames": [bob.username]})
    assert opened.status_code == 201, opened.text
    conversation = opened.json()
    assert_conversation(conversation)
    assert {u["username"] for u in conversation["participants"]} == {alice.username, bob.username}
    assert conversation["last_message"] is None and conversation["unread_count"] == 0
    again = http.post("/api/conversations", headers=alice.auth, json={"usernames": [bob.username]})
    assert again.status_code == 200 and again.json()["id"] == conversation["id"]
    reverse = http.post("/api/conversations", headers=bob.auth, json={"usernames": [alice.username]})
    assert reverse.status_code == 200 and reverse.json()["id"] == conversation["id"]
    cid = conversation["id"]

    # messages: 201, then 200 with the same object for the same client_id
    client_id = str(uuid.uuid4())
    sent = http.post(
        f"/api/conversations/{cid}/messages", headers=alice.auth, json={"body": "hello", "client_id": client_id}
    )
    assert sent.status_code == 201, sent.text
    assert_message(sent.json())
    assert (
        sent.json()["body"] == "hello" and sent.json()["client_id"] == client_id and sent.json()["conversation"] == cid
    )
    retried = http.post(
        f"/api/conversations/{cid}/messages", headers=alice.auth, json={"body": "hello", "client_id": client_id}
    )
    assert retried.status_code == 200
    assert retried.json() == sent.json()
    edited_retry = http.post(
        f"/api/conversations/{cid}/messages", headers=alice.auth, json={"body": "changed", "client_id": client_id}
    )
    assert edited_retry.status_code == 200 and edited_retry.json() == sent.json()
    longest = http.post(
        f"/api/conversations/{cid}/messages",
        headers=alice.auth,
        json={"body": "m" * 4000, "client_id": str(uuid.uuid4())},
    )
    assert longest.status_code == 201

    # GET messages: newest first
    messages = assert_page(http.get(f"/api/conversations/{cid}/messages", headers=bob.auth))
    assert [m["id"] for m in messages] == [longest.json()["id"], sent.json()["id"]]
    for message in messages:
        assert_message(message)

    # GET /api/conversations: last_message and unread_count
    listed = assert_page(http.get("/api/conversations", headers=bob.auth))
    assert [c["id"] for c in listed] == [cid]
    assert_conversation(listed[0])
    assert listed[0]["unread_count"] == 2 and listed[0]["last_message"] == longest.json()
    assert assert_page(http.get("/api/conversations", headers=alice.auth))[0]["unread_count"] == 0

    # read up to a message
    read = http.post(f"/api/conversations/{cid}/read", headers=bob.auth, json={"message_id": sent.json()["id"]})
    assert read.status_code == 200, read.text
    assert assert_page(http.get("/api/conversations", headers=bob.auth))[0]["unread_count"] == 1
    assert (
        http.post(
            f"/api/conversations/{cid}/read", headers=bob.auth, json={"message_id": longest.json()["id"]}
        ).status_code
        == 200
    )
    assert assert_page(http.get("/api/conversations", headers=bob.auth))[0]["unread_count"] == 0

    # bad input and someone else's conversation
    messages_url = f"/api/conversations/{cid}/messages"
    assert_error(
        http.post(messages_url, headers=alice.auth, json={"body": "m" * 4001, "client_id": str(uuid.uuid4())}),
        400,
        "invalid",
        {"body"},
    )
    assert_error(http.post(messages_url, headers=alice.auth, json={"body": "hi"}), 400, "invalid", {"client_id"})
    assert_error(
        http.post(messages_url, headers=alice.auth, json={"client_id": str(uuid.uuid4())}), 400, "invalid", {"body"}
    )
    assert_error(
        http.post(messages_url, headers=alice.auth, json={"body": "   ", "client_id": str(uuid.uuid4())}),
        400,
        "invalid",
        {"body"},
    )
    assert_error(
        http.post(messages_url, headers=alice.auth, json={"body": "x", "client_id": "c" * 65}),
        400,
        "invalid",
        {"client_id"},
    )
    assert_error(http.get(messages_url, headers=carol.auth), 404, "not_found")
    assert_error(
        http.post(messages_url, headers=carol.auth, json={"body": "intruder", "client_id": str(uuid.uuid4())}),
        404,
        "not_found",
    )
    assert_error(
        http.post(f"/api/conversations/{cid}/read", headers=carol.auth, json={"message_id": sent.json()["id"]}),
        404,
        "not_found",
    )
    assert_error(http.post(f"/api/conversations/{cid}/read", headers=bob.auth, json={}), 400, "invalid", {"message_id"})
    assert_error(
        http.post(f"/api/conversations/{cid}/read", headers=bob.auth, json={"message_id": "x"}),
        400,
        "invalid",
        {"message_id"},
    )
    other = http.post("/api/conversations", headers=carol.auth, json={"usernames": [bob.username]}).json()
    foreign = http.post(
        f"/api/conversations/{other['id']}/messages",
        headers=carol.auth,
        json={"body": "yo", "client_id": str(uuid.uuid4())},
    )
    assert_error(
        http.post(f"/api/conversations/{cid}/read", headers=bob.auth, json={"message_id": foreign.json()["id"]}),
        400,
        "invalid",
        {"message_id"},
    )
    assert_error(
        http.post("/api/conversations", headers=alice.auth, json={"usernames": []}), 400, "invalid", {"usernames"}
    )
    assert_error(
        http.post("/api/conversations", headers=alice.auth, json={"usernames": "bob"}), 400, "invalid", {"usernames"}
    )
    assert_error(
        http.post("/api/conversations", headers=alice.auth, json={"usernames": [alice.username]}),
        400,
        "invalid",
        {"usernames"},
    )
    assert_error(
        http.post("/api/conversations", headers=alice.auth, json={"usernames": ["no_such_user_x"]}),
        400,
        "invalid",
        {"usernames"},
    )
    assert_error(http.post("/api/conversations", headers=alice.auth, json={}), 400, "invalid", {"usernames"})

    # newest activity first: a message moves its conversation to the top
    assert [c["id"] for c in assert_page(http.get("/api/conversations", headers=bob.auth))] == [other["id"], cid]
    latest = http.post(messages_url, headers=alice.auth, json={"body": "bump", "client_id": str(uuid.uuid4())}).json()
    bob_list = assert_page(http.get("/api/conversations", headers=bob.auth))
    assert [c["id"] for c in bob_list] == [cid, other["id"]]
    assert bob_list[0]["last_message"] == latest and bob_list[0]["unread_count"] == 1


def test_a_client_id_reused_in_another_conversation_is_a_conflict(http):
    alice, bob, carol = register(http), register(http), register(http)
    first = http.post("/api/conversations", headers=alice.auth, json={"usernames": [bob.username]}).json()["id"]
    second = http.post("/api/conversations", headers=alice.auth, json={"usernames": [carol.username]}).json()["id"]
    client_id = str(uuid.uuid4())
    assert (
        http.post(
            f"/api/conversations/{first}/messages", headers=alice.auth, json={"body": "a", "client_id": client_id}
        ).status_code
        == 201
    )
    assert_error(
        http.post(
            f"/api/conversations/{second}/messages", headers=alice.auth, json={"body": "a", "client_id": client_id}
        ),
        409,
        "conflict",
    )


# --- websocket -----------------------------------------------------------------------------------


def recv(socket, timeout: float = 10) -> dict:
    return json.loads(socket.recv(timeout=timeout))


def recv_until(socket, predicate, timeout: float = 10) -> dict:
    for _ in range(50):
        frame = recv(socket, timeout)
        if predicate(frame):
            return frame
    raise AssertionError("frame never came")


def test_websocket_hello_send_ack_events_and_resume(http, node):
    # given: a 1:1 bob accepted (a stranger's is a request: no read receipts until accepted)
    alice, bob = register(http), register(http)
    cid = http.post("/api/conversations", headers=alice.auth, json={"usernames": [bob.username]}).json()["id"]
    assert http.post(f"/api/conversations/{cid}/accept", headers=bob.auth).status_code == 200

    with (
        ws_connect(node.ws, additional_headers=alice.auth) as alice_ws,
        ws_connect(f"{node.ws}?token={bob.token}") as bob_ws,
    ):
        hello = recv(alice_ws)
        assert set(hello) == {"type", "user", "last_event_id"}
        assert hello["type"] == "hello" and hello["last_event_id"] == 0
        assert_brief(hello["user"])
        assert hello["user"]["username"] == alice.username
        bob_hello = recv(bob_ws)
        assert bob_hello["type"] == "hello"
        bob_start = bob_hello["last_event_id"]

        # when: message.send
        client_id = str(uuid.uuid4())
        alice_ws.send(
            json.dumps(
                {"type": "message.send", "ref": "r1", "conversation": cid, "body": "hi bob", "client_id": client_id}
            )
        )
        frames = [recv_until(alice_ws, lambda f: f["type"] in ("ack", "event")) for _ in range(2)]
        # then: an ack with the message, and message.new to the sender too
        ack = next(f for f in frames if f["type"] == "ack")
        event = next(f for f in frames if f["type"] == "event")
        assert set(ack) == {"type", "ref", "data"} and ack["ref"] == "r1"
        assert_message(ack["data"])
        assert ack["data"]["body"] == "hi bob" and ack["data"]["client_id"] == client_id
        assert set(event) == {"type", "id", "event", "data"}
        assert event["event"] == "message.new" and event["data"] == ack["data"] and event["id"] == 1
        bob_event = recv_until(bob_ws, lambda f: f["type"] == "event")
        assert bob_event["event"] == "message.new" and bob_event["data"] == ack["data"]
        assert bob_event["id"] == bob_start + 1

        # a retried send is acked with the original message and makes no new event
        alice_ws.send(
            json.dumps(
                {"type": "message.send", "ref": "r2", "conversation": cid, "body": "hi bob", "client_id": client_id}
            )
        )
        retry = recv_until(alice_ws, lambda f: f["type"] in ("ack", "event"))
        assert retry["type"] == "ack" and retry["ref"] == "r2" and retry["data"] == ack["data"]

        # message.read: ack with {conversation, user, message_id}, and message.read to both
        bob_ws.send(
            json.dumps({"type": "message.read", "ref": 7, "conversation": cid, "message_id": ack["data"]["id"]})
        )
        read_frames = [recv_until(bob_ws, lambda f: f["type"] in ("ack", "event")) for _ in range(2)]
        read_ack = next(f for f in read_frames if f["type"] == "ack")
        assert read_ack["ref"] == 7
        assert set(read_ack["data"]) == {"conversation", "user", "message_id"}
        assert read_ack["data"]["message_id"] == ack["data"]["id"]
        alice_read = recv_until(alice_ws, lambda f: f["type"] == "event")
        assert (
            alice_read["event"] == "message.read" and alice_read["data"] == read_ack["data"] and alice_read["id"] == 2
        )

        # ping / pong
        alice_ws.send(json.dumps({"type": "ping"}))
        assert recv_until(alice_ws, lambda f: f["type"] == "pong") == {"type": "pong"}

        # bad frames get an error frame and the socket stays open
        bad_frames = [
            ("not json", "bad_frame"),
            (json.dumps([1, 2]), "bad_frame"),
            (json.dumps({"type": "nope", "ref": "x"}), "unknown_type"),
            (json.dumps({"ref": "x"}), "unknown_type"),
            (json.dumps({"type": "message.send", "ref": "x", "conversation": cid, "client_id": "c1"}), "invalid"),
            (
                json.dumps(
                    {"type": "message.send", "ref": "x", "conversation": cid, "body": "b" * 4001, "client_id": "c2"}
                ),
                "invalid",
            ),
            (
                json.dumps(
                    {"type": "message.send", "ref": "x", "conversation": "seven", "body": "b", "client_id": "c3"}
                ),
                "invalid",
            ),
            (
                json.dumps({"type": "message.send", "ref": "x", "conversation": 2**62, "body": "b", "client_id": "c4"}),
                "not_found",
            ),
            (json.dumps({"type": "resume", "after": -1}), "invalid"),
        ]
        for raw, code in bad_frames:
            alice_ws.send(raw)
            error = recv_until(alice_ws, lambda f: f["type"] == "error")
            assert set(error) == {"type", "ref", "code", "detail"}, error
            assert error["code"] == code, (raw, error)
        alice_ws.send(b"\x00binary")
        assert recv_until(alice_ws, lambda f: f["type"] == "error")["code"] == "bad_frame"
        alice_ws.send(json.dumps({"type": "ping"}))
        assert recv_until(alice_ws, lambda f: f["type"] == "pong") == {"type": "pong"}

        # resume over the open socket: replay after 0, then "resumed"
        alice_ws.send(json.dumps({"type": "resume", "after": 0}))
        replay = [recv_until(alice_ws, lambda f: f["type"] in ("event", "resumed")) for _ in range(3)]
        assert [f.get("id") for f in replay[:2]] == [1, 2]
        assert replay[2] == {"type": "resumed", "last_event_id": 2}

    # reconnecting with ?after= replays what came after, then "resumed", then live
    http.post(
        f"/api/conversations/{cid}/messages", headers=bob.auth, json={"body": "offline", "client_id": str(uuid.uuid4())}
    )
    with ws_connect(f"{node.ws}?after=1", additional_headers=alice.auth) as again:
        hello = recv(again)
        assert hello["type"] == "hello" and hello["last_event_id"] == 3
        replayed = [recv(again) for _ in range(3)]
        assert [(f["type"], f.get("id"), f.get("event")) for f in replayed] == [
            ("event", 2, "message.read"),
            ("event", 3, "message.new"),
            ("resumed", None, None),
        ]
        assert replayed[1]["data"]["body"] == "offline"
        assert replayed[2]["last_event_id"] == 3
    # a resume from an id this user never had asks for a resync
    with ws_connect(f"{node.ws}?after=999", additional_headers=alice.auth) as ahead:
        assert recv(ahead)["type"] == "hello"
        error = recv_until(ahead, lambda f: f["type"] == "error")
        assert error["code"] == "resync_required" and error["ref"] is None


def test_websocket_without_credentials_closes_with_4401(node):
    for url, headers in ((node.ws, {}), (f"{node.ws}?token=nope", {}), (node.ws, {"Authorization": "Token nope"})):
        with ws_connect(url, additional_headers=headers) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=10)
            assert closed.value.rcvd.code == 4401


# --- bad input everywhere ------------------------------------------------------------------------


def test_every_endpoint_wants_authentication(http):
    paths = [
        ("GET", "/api/me"),
        ("PATCH", "/api/me"),
        ("DELETE", "/api/me"),
        ("GET", "/api/me/sessions"),
        ("POST", "/api/me/sessions/revoke-others"),
        ("DELETE", "/api/me/sessions/1"),
        ("POST", "/api/me/password"),
        ("POST", "/api/me/export"),
        ("GET", "/api/me/export/1"),
        ("GET", "/api/me/export/1/download"),
        ("GET", "/api/users"),
        ("GET", "/api/users/someone"),
        ("POST", "/api/users/someone/follow"),
        ("DELETE", "/api/users/someone/follow"),
        ("GET", "/api/users/someone/followers"),
        ("GET", "/api/users/someone/following"),
        ("GET", "/api/users/someone/posts"),
        ("POST", "/api/posts"),
        ("GET", "/api/posts/1"),
        ("DELETE", "/api/posts/1"),
        ("GET", "/api/feed"),
        ("POST", "/api/posts/1/like"),
        ("DELETE", "/api/posts/1/like"),
        ("GET", "/api/posts/1/comments"),
        ("POST", "/api/posts/1/comments"),
        ("DELETE", "/api/comments/1"),
        ("GET", "/api/conversations"),
        ("POST", "/api/conversations"),
        ("GET", "/api/conversations/1/messages"),
        ("POST", "/api/conversations/1/messages"),
        ("POST", "/api/conversations/1/read"),
        ("GET", "/api/notifications"),
        ("POST", "/api/notifications/read"),
        ("POST", "/api/auth/logout"),
    ]
    for method, path in paths:
        assert_error(http.request(method, path), 401, "not_authenticated")
        assert_error(
            http.request(method, path, headers={"Authorization": "Token not-a-real-token"}),
            401,
            "authentication_failed",
        )


def test_malformed_json_and_wrong_shapes_get_400(http):
    alice, bob = register(http), register(http)
    cid = http.post("/api/conversations", headers=alice.auth, json={"usernames": [bob.username]}).json()["id"]
    post = create_post(http, alice)
    json_writes = [
        ("POST", "/api/auth/register", {}),
        ("POST", "/api/auth/login", {}),
        ("PATCH", "/api/me", alice.auth),
        ("POST", f"/api/posts/{post['id']}/comments", alice.auth),
        ("POST", "/api/conversations", alice.auth),
        ("POST", f"/api/conversations/{cid}/messages", alice.auth),
        ("POST", f"/api/conversations/{cid}/read", alice.auth),
        ("POST", "/api/notifications/read", alice.auth),
    ]
    for method, path, headers in json_writes:
        for raw in (b"{bad json", b"\xff\xfe\x00", b'{"a": 1', b"[", b"nul"):
            assert_error(
                http.request(method, path, headers={**headers, "Content-Type": "application/json"}, content=raw),
                400,
                "parse_error",
            )
        for shape in (b"[1, 2]", b'"text"', b"42", b"null"):
            assert_error(
                http.request(method, path, headers={**headers, "Content-Type": "application/json"}, content=shape),
                400,
                "invalid",
            )
        assert_error(
            http.request(method, path, headers={**headers, "Content-Type": "text/plain"}, content=b"hi"),
            415,
            "unsupported_media_type",
        )


def test_unknown_ids_are_404_and_wrong_methods_are_405(http):
    alice = register(http)
    for big in ("999999999", str(2**63), "9" * 30):
        for method, path in (
            ("GET", f"/api/posts/{big}"),
            ("DELETE", f"/api/posts/{big}"),
            ("POST", f"/api/posts/{big}/like"),
            ("DELETE", f"/api/posts/{big}/like"),
            ("GET", f"/api/posts/{big}/comments"),
            ("DELETE", f"/api/comments/{big}"),
            ("GET", f"/api/conversations/{big}/messages"),
        ):
            assert_error(http.request(method, path, headers=alice.auth), 404, "not_found")
        assert_error(http.post(f"/api/posts/{big}/comments", headers=alice.auth, json={"body": "x"}), 404, "not_found")
        assert_error(
            http.post(
                f"/api/conversations/{big}/messages",
                headers=alice.auth,
                json={"body": "x", "client_id": str(uuid.uuid4())},
            ),
            404,
            "not_found",
        )
        assert_error(
            http.post(f"/api/conversations/{big}/read", headers=alice.auth, json={"message_id": 1}), 404, "not_found"
        )
    for path in (
        "/api/posts/abc",
        "/api/posts/-1",
        "/api/comments/x",
        "/api/conversations/x/messages",
        "/api/nothing-here",
        "/api/",
    ):
        assert_error(http.get(path, headers=alice.auth), 404, "not_found")

    wrong_methods = [
        ("GET", "/api/auth/register"),
        ("GET", "/api/auth/login"),
        ("GET", "/api/auth/logout"),
        ("POST", "/api/me"),
        ("PUT", "/api/me"),
        ("POST", "/api/users"),
        ("DELETE", f"/api/users/{alice.username}"),
        ("GET", f"/api/users/{alice.username}/follow"),
        ("POST", f"/api/users/{alice.username}/followers"),
        ("GET", "/api/posts"),
        ("PUT", "/api/posts/1"),
        ("POST", "/api/feed"),
        ("GET", "/api/posts/1/like"),
        ("PUT", "/api/posts/1/comments"),
        ("GET", "/api/comments/1"),
        ("PATCH", "/api/conversations"),
        ("DELETE", "/api/conversations/1/messages"),
        ("GET", "/api/conversations/1/read"),
        ("POST", "/api/notifications"),
        ("GET", "/api/notifications/read"),
    ]
    for method, path in wrong_methods:
        assert_error(http.request(method, path, headers=alice.auth), 405, "method_not_allowed")


def test_trailing_slash_variants_are_json_4xx_never_500(http):
    alice = register(http)
    paths = [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/me",
        "/api/users",
        f"/api/users/{alice.username}",
        f"/api/users/{alice.username}/follow",
        f"/api/users/{alice.username}/followers",
        "/api/posts",
        "/api/posts/1",
        "/api/feed",
        "/api/posts/1/like",
        "/api/posts/1/comments",
        "/api/comments/1",
        "/api/conversations",
        "/api/conversations/1/messages",
        "/api/conversations/1/read",
        "/api/notifications",
        "/api/notifications/read",
    ]
    for path in paths:
        for method in ("GET", "POST", "DELETE"):
            response = http.request(method, path + "/", headers=alice.auth)
            assert_error(response, 404, "not_found")


def test_schema_docs_and_health(http):
    schema = http.get("/api/schema/")
    assert schema.status_code == 200
    assert "openapi: 3" in schema.text
    as_json = http.get("/api/schema/", params={"format": "json"})
    assert as_json.status_code == 200
    paths = as_json.json()["paths"]
    for path in (
        "/api/auth/register",
        "/api/me",
        "/api/users/{username}",
        "/api/posts",
        "/api/feed",
        "/api/conversations/{conversation_id}/messages",
        "/api/notifications/read",
    ):
        assert path in paths, sorted(paths)
    assert all(not p.endswith("/") for p in paths)
    # Every list is documented as the cursor page it is: {"results", "next"} with cursor and limit.
    components = as_json.json()["components"]["schemas"]
    for path in (
        "/api/users",
        "/api/users/{username}/followers",
        "/api/users/{username}/following",
        "/api/users/{username}/posts",
        "/api/feed",
        "/api/posts/{post_id}/comments",
        "/api/conversations",
        "/api/conversations/{conversation_id}/messages",
        "/api/notifications",
    ):
        operation = paths[path]["get"]
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = components[ref.rsplit("/", 1)[1]]
        assert set(page["properties"]) == {"results", "next"}, (path, page)
        assert {"cursor", "limit"} <= {p["name"] for p in operation["parameters"]}, path
    docs = http.get("/api/docs/")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    health = http.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    metrics = http.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")


def test_websocket_pushes_typing_feed_posts_notifications_and_presence(http, node):
    # given: bob follows alice and shares a conversation with her, with a message in it
    # (presence goes only over a conversation with a message)
    alice, bob = register(http), register(http)
    assert http.post(f"/api/users/{alice.username}/follow", headers=bob.auth).status_code == 201
    cid = http.post("/api/conversations", headers=alice.auth, json={"usernames": [bob.username]}).json()["id"]
    first = {"body": "hello", "client_id": str(uuid.uuid4())}
    assert http.post(f"/api/conversations/{cid}/messages", headers=alice.auth, json=first).status_code == 201

    with ws_connect(node.ws, additional_headers=bob.auth) as bob_ws:
        assert recv(bob_ws)["type"] == "hello"
        with ws_connect(node.ws, additional_headers=alice.auth) as alice_ws:
            assert recv(alice_ws)["type"] == "hello"
            # presence: alice's first socket tells bob she is online
            online = recv_until(bob_ws, lambda f: f["type"] == "presence")
            assert set(online) == {"type", "data"} and set(online["data"]) == {"user", "online"}
            assert online["data"]["online"] is True and online["data"]["user"]["username"] == alice.username
            assert_brief(online["data"]["user"])

            # typing reaches the other participant, never the typist
            alice_ws.send(json.dumps({"type": "typing", "conversation": cid}))
            typing = recv_until(bob_ws, lambda f: f["type"] == "typing")
            assert typing == {"type": "typing", "data": {"conversation": cid, "user": typing["data"]["user"]}}
            assert_brief(typing["data"]["user"])
            assert typing["data"]["user"]["username"] == alice.username

            # feed.post: a followed author's new post, with exactly the post fields
            post = create_post(http, alice, "live")
            pushed = recv_until(bob_ws, lambda f: f["type"] == "feed.post")
            assert set(pushed) == {"type", "data"}
            assert_post(pushed["data"])
            assert pushed["data"]["id"] == post["id"]

            # notification.new: durable, numbered, exactly the notification fields
            assert http.post(f"/api/posts/{post['id']}/like", headers=bob.auth).status_code == 201
            event = recv_until(alice_ws, lambda f: f["type"] == "event")
            assert event["event"] == "notification.new"
            assert_notification(event["data"])
            assert event["data"]["verb"] == "like" and event["data"]["post"] == post["id"]
            listed = assert_page(http.get("/api/notifications", headers=alice.auth))
            assert event["data"] == listed[0]

            alice_ws.send(json.dumps({"type": "ping"}))
            frames = []
            while (frame := recv(alice_ws))["type"] != "pong":
                frames.append(frame)
            assert all(f["type"] != "typing" for f in frames), frames
        # alice's last socket closed: bob learns she is offline
        offline = recv_until(bob_ws, lambda f: f["type"] == "presence")
        assert offline["data"]["online"] is False and offline["data"]["user"]["username"] == alice.username


def test_logout_closes_the_sockets_opened_with_that_token(http, node):
    # given
    alice = register(http)
    with ws_connect(node.ws, additional_headers=alice.auth) as socket:
        assert recv(socket)["type"] == "hello"
        # when
        assert http.post("/api/auth/logout", headers=alice.auth).status_code == 204
        # then
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket.recv(timeout=10)
        assert closed.value.rcvd.code == 4401


def test_websocket_session_cookie_needs_a_same_site_origin(http, node):
    # given: a browser session
    account = register(http)
    with httpx.Client(base_url=node.http, timeout=30) as browser:
        assert (
            browser.post("/api/auth/login", json={"username": account.username, "password": PASSWORD}).status_code
            == 200
        )
        cookie = {"Cookie": f"sessionid={browser.cookies['sessionid']}"}
    # a page of this site: the cookie is enough
    with ws_connect(node.ws, additional_headers=cookie, origin=f"http://127.0.0.1:{node.port}") as socket:
        hello = recv(socket)
        assert hello["type"] == "hello" and hello["user"]["id"] == account.id
    # no Origin (not a browser): a cookie alone is not enough
    with ws_connect(node.ws, additional_headers=cookie) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
        assert closed.value.rcvd.code == 4401
    # another site's page: refused at the handshake, whatever it carries
    for headers in (cookie, account.auth):
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(node.ws, additional_headers=headers, origin="https://evil.example")
        assert refused.value.response.status_code == 403
