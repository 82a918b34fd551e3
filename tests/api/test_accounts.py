import asyncio
import hashlib

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Block, Credential, Follow, User
from core.crypto import digest
from core.throttling import ScopedThrottle
from notifications.models import Notification
from realtime.publish import credential_group
from tests.factories import PASSWORD, UserFactory, image_upload

PROFILE_FIELDS = {
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
STRONG_PASSWORD = "violet-harbour-lantern-42"


def register(client: APIClient, **overrides):
    body = {"username": "newcomer", "email": "newcomer@example.com", "password": STRONG_PASSWORD, **overrides}
    return client.post("/api/auth/register", body, format="json")


def receive_after(groups: list[str], action, timeout: float = 2.0) -> tuple[object, dict[str, list[dict]]]:
    """Subscribes a channel to each group on the real channel layer, runs `action` (sync,
    in this thread), then collects what each group received within `timeout`."""

    async def scenario():
        layer = get_channel_layer()
        channels = {}
        for group in groups:
            channels[group] = await layer.new_channel()
            await layer.group_add(group, channels[group])
        result = await sync_to_async(action)()
        received: dict[str, list[dict]] = {group: [] for group in groups}
        wait = timeout
        for group, channel in channels.items():
            while True:
                try:
                    received[group].append(await asyncio.wait_for(layer.receive(channel), wait))
                except TimeoutError:
                    break
                wait = 0.2
        for group, channel in channels.items():
            await layer.group_discard(group, channel)
        return result, received

    return async_to_sync(scenario)()


# --- register / login / logout ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.real_password_hashing
def test_register_creates_user_returns_token_and_opens_session(api_client):
    # when
    response = register(api_client)
    # then
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user", "token"}
    assert set(body["user"]) == PROFILE_FIELDS
    assert body["user"]["username"] == "newcomer"
    assert body["user"]["follower_count"] == 0 and body["user"]["is_following"] is False
    assert "sessionid" in response.cookies and "csrftoken" in response.cookies
    user = User.objects.get(username="newcomer")
    assert user.password.startswith("argon2")
    assert Credential.objects.get(user=user, kind="token").digest == digest(body["token"])
    token_client = APIClient()
    token_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert token_client.get("/api/me").json()["username"] == "newcomer"
    # the session alone authenticates too
    assert api_client.get("/api/me").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": "ab"}, "username"),
        ({"username": "x" * 31}, "username"),
        ({"username": "bad name!"}, "username"),
        ({"username": "héllo"}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "123"}, "password"),
        ({"password": "password"}, "password"),
        ({"password": "newcomer1"}, "password"),
    ],
)
def test_register_rejects_invalid_input_with_field_errors(api_client, overrides, field):
    response = register(api_client, **overrides)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["fields"]
    assert not User.objects.filter(email="newcomer@example.com").exists()


@pytest.mark.django_db
def test_register_refuses_a_taken_username_case_insensitively(api_client):
    UserFactory(username="Taken", email="taken@example.com")
    response = register(api_client, username="taken")
    assert response.status_code == 400 and "username" in response.json()["fields"]


@pytest.mark.django_db(transaction=True)
def test_register_with_a_taken_email_answers_as_for_a_new_one_and_tells_the_owner(mailoutbox):
    from accounts import mail

    # given: an account with the address
    owner = UserFactory(username="owner", email="taken@example.com")
    # when: two people register, one with a fresh address and one with the taken one
    fresh = register(APIClient(), username="fresh_one", email="fresh@example.com")
    taken = register(APIClient(), username="taken_one", email="TAKEN@example.com")
    mail.drain()
    # then: the same answer, field for field
    assert fresh.status_code == taken.status_code == 201
    assert set(fresh.json()) == set(taken.json()) == {"user", "token"}
    assert set(fresh.json()["user"]) == set(taken.json()["user"]) == PROFILE_FIELDS
    assert fresh.cookies.keys() == taken.cookies.keys()
    # the new account works, without the address; the owner's keeps it
    newcomer = User.objects.get(username="taken_one")
    assert newcomer.email is None and newcomer.check_password(STRONG_PASSWORD)
    assert User.objects.get(pk=owner.pk).email == "taken@example.com"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {taken.json()['token']}")
    assert client.get("/api/me").json()["username"] == "taken_one"
    # and only the owner of the address hears of it, by email
    assert [m.to for m in mailoutbox] == [["taken@example.com"]]
    assert "@taken_one" in mailoutbox[0].body and "@owner" in mailoutbox[0].body


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"{}"])
def test_register_with_malformed_body_is_400_json(api_client, body):
    response = api_client.post("/api/auth/register", body, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert {"detail", "code"} <= set(response.json())


@pytest.mark.django_db
def test_login_issues_a_new_token_each_time_and_stores_only_its_digest(api_client):
    # given
    user = UserFactory(username="Alice")
    # when
    first = api_client.post("/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json")
    second = APIClient().post("/api/auth/login", {"username": "Alice", "password": PASSWORD}, format="json")
    # then
    assert first.status_code == 200 and second.status_code == 200
    assert first.json()["user"]["id"] == user.pk
    keys = {first.json()["token"], second.json()["token"]}
    assert len(keys) == 2
    stored = set(Credential.objects.filter(user=user, kind="token").values_list("digest", flat=True))
    assert stored == {digest(k) for k in keys}
    assert not stored & keys
    assert "sessionid" in first.cookies and "csrftoken" in first.cookies


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong-password-1"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "bad name!", "password": PASSWORD},
    ],
)
def test_login_with_wrong_credentials_is_400_invalid_credentials(api_client, body):
    UserFactory(username="alice")
    response = api_client.post("/api/auth/login", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_login_missing_fields_is_400_with_fields(api_client):
    response = api_client.post("/api/auth/login", {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["fields"]


@pytest.mark.django_db
def test_login_is_throttled_with_429_json(api_client, monkeypatch):
    monkeypatch.setattr(ScopedThrottle, "THROTTLE_RATES", {**ScopedThrottle.THROTTLE_RATES, "login": "2/min"})
    UserFactory(username="alice")
    codes = [
        api_client.post("/api/auth/login", {"username": "alice", "password": "nope-nope-1"}, format="json")
        for _ in range(3)
    ]
    assert [r.status_code for r in codes] == [400, 400, 429]
    assert codes[-1].json()["code"] == "throttled"


@pytest.mark.django_db
def test_logout_revokes_the_token_and_tells_its_sockets(api_client, django_capture_on_commit_callbacks):
    # given
    UserFactory(username="alice")
    key = api_client.post("/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    group = credential_group(digest(key))

    def logout():
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/api/auth/logout")

    # when
    response, received = receive_after([group], logout)
    # then
    assert response.status_code == 204
    assert received[group] == [{"type": "auth.revoked"}]
    assert not Credential.objects.filter(digest=digest(key)).exists()
    again = client.get("/api/me")
    assert again.status_code == 401 and again.json()["code"] == "authentication_failed"


@pytest.mark.django_db
def test_logout_ends_the_session_and_tells_its_sockets(django_capture_on_commit_callbacks):
    # given
    UserFactory(username="alice")
    browser = APIClient(enforce_csrf_checks=True)
    browser.post("/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json")
    session_key = browser.cookies["sessionid"].value
    group = credential_group(hashlib.sha256(session_key.encode()).hexdigest())

    def logout():
        with django_capture_on_commit_callbacks(execute=True):
            return browser.post("/api/auth/logout", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)

    # when
    response, received = receive_after([group], logout)
    # then
    assert response.status_code == 204
    assert received[group] == [{"type": "auth.revoked"}]
    assert browser.get("/api/me").status_code in (401, 403)


@pytest.mark.django_db
def test_session_write_without_csrf_token_is_403_and_with_it_succeeds():
    # given
    UserFactory(username="alice")
    UserFactory(username="bob")
    browser = APIClient(enforce_csrf_checks=True)
    browser.post("/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json")
    # when
    refused = browser.post("/api/users/bob/follow")
    accepted = browser.post("/api/users/bob/follow", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    # then
    assert refused.status_code == 403
    assert refused.json()["code"] in ("permission_denied", "csrf_failed")
    assert accepted.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/me"),
        ("patch", "/api/me"),
        ("get", "/api/users"),
        ("get", "/api/users/alice"),
        ("post", "/api/users/alice/follow"),
        ("get", "/api/users/alice/followers"),
        ("post", "/api/auth/logout"),
    ],
)
def test_unauthenticated_requests_get_401_json(api_client, method, path):
    UserFactory(username="alice")
    response = getattr(api_client, method)(path)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_bad_token_is_401_json(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token " + "f" * 40)
    response = api_client.get("/api/me")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


# --- me --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_me_patch_updates_bio_and_full_name(user, client_for):
    client = client_for(user)
    response = client.patch("/api/me", {"bio": "Photos of cats", "full_name": "Cat Person"}, format="json")
    assert response.status_code == 200
    assert response.json()["bio"] == "Photos of cats" and response.json()["full_name"] == "Cat Person"
    assert set(response.json()) == PROFILE_FIELDS
    user.refresh_from_db()
    assert user.bio == "Photos of cats"
    assert client.get(f"/api/users/{user.username}").json()["bio"] == "Photos of cats"


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [({"bio": "x" * 151}, "bio"), ({"full_name": "x" * 101}, "full_name")])
def test_me_patch_rejects_too_long_fields(user, client_for, body, field):
    response = client_for(user).patch("/api/me", body, format="json")
    assert response.status_code == 400 and field in response.json()["fields"]


@pytest.mark.django_db
def test_me_patch_avatar_is_reencoded_and_can_be_cleared(user, client_for, settings):
    client = client_for(user)
    response = client.patch(
        "/api/me", {"avatar": image_upload("me.png", fmt="PNG", size=(400, 300))}, format="multipart"
    )
    assert response.status_code == 200
    url = response.json()["avatar_url"]
    assert url.startswith("/media/avatars/") and url.endswith(".jpg")
    user.refresh_from_db()
    stored = settings.MEDIA_ROOT / user.avatar.name
    with Image.open(stored) as image:
        assert image.format == "JPEG" and image.size == (300, 300)
    cleared = client.patch("/api/me", {"avatar": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["avatar_url"] is None


@pytest.mark.django_db
def test_me_patch_non_image_avatar_is_400(user, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = SimpleUploadedFile("me.jpg", b"hello, not an image", content_type="image/jpeg")
    response = client_for(user).patch("/api/me", {"avatar": text}, format="multipart")
    assert response.status_code == 400 and "avatar" in response.json()["fields"]


# --- profiles, search ------------------------------------------------------------------


@pytest.mark.django_db
def test_profile_shows_counts_and_is_following(user, client_for):
    # given
    alice = UserFactory(username="alice", bio="hi")
    Follow.objects.create(follower=user, followee=alice)
    User.objects.filter(pk=alice.pk).update(follower_count=1)
    # when
    response = client_for(user).get("/api/users/ALICE")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk,
        "username": "alice",
        "full_name": alice.full_name,
        "bio": "hi",
        "avatar_url": None,
        "follower_count": 1,
        "following_count": 0,
        "post_count": 0,
        "is_following": True,
        "is_private": False,
        "follow_status": "following",
    }
    assert client_for(alice).get(f"/api/users/{user.username}").json()["is_following"] is False


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["nobody", "x" * 200, "bad%20name"])
def test_missing_profile_is_404_json(auth_client, name):
    response = auth_client.get(f"/api/users/{name}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_profile_read_is_cached_and_every_write_is_visible_at_once(user, client_for):
    # given
    alice = UserFactory(username="alice")
    reader = client_for(UserFactory())
    assert reader.get("/api/users/alice").json()["follower_count"] == 0
    with CaptureQueriesContext(connection) as cached:
        reader.get("/api/users/alice")
    assert not any('"accounts_user"."username"' in q["sql"] and "UPPER" in q["sql"] for q in cached.captured_queries)
    # when / then: each write shows on the next read
    client_for(user).post("/api/users/alice/follow")
    assert reader.get("/api/users/alice").json()["follower_count"] == 1
    assert reader.get(f"/api/users/{user.username}").json()["following_count"] == 1
    client_for(alice).patch("/api/me", {"bio": "new bio"}, format="json")
    assert reader.get("/api/users/alice").json()["bio"] == "new bio"
    client_for(alice).post("/api/posts", {"image": image_upload()}, format="multipart")
    assert reader.get("/api/users/alice").json()["post_count"] == 1
    client_for(user).delete("/api/users/alice/follow")
    assert reader.get("/api/users/alice").json()["follower_count"] == 0


@pytest.mark.django_db
def test_search_finds_users_by_username_prefix_case_insensitively(user, client_for):
    for name in ["anna", "Annabel", "annette", "bob"]:
        UserFactory(username=name)
    response = client_for(user).get("/api/users", {"q": "ANN"})
    assert response.status_code == 200
    names = sorted(u["username"] for u in response.json()["results"])
    assert names == ["Annabel", "anna", "annette"]
    assert set(response.json()["results"][0]) == PROFILE_FIELDS
    assert response.json()["next"] is None


@pytest.mark.django_db
def test_search_pages_with_a_cursor(user, client_for):
    for i in range(5):
        UserFactory(username=f"page{i}")
    client = client_for(user)
    first = client.get("/api/users", {"q": "page", "limit": 3}).json()
    second = client.get(first["next"]).json()
    names = [u["username"] for u in first["results"] + second["results"]]
    assert names == [f"page{i}" for i in range(5)]
    assert second["next"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("q", ["x" * 31, "bad name", "a%"])
def test_search_rejects_long_or_malformed_query(auth_client, q):
    response = auth_client.get("/api/users", {"q": q})
    assert response.status_code == 400 and "q" in response.json()["fields"]


# --- follow ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_follow_is_idempotent_keeps_counts_and_notifies_once(user, client_for):
    # given
    alice = UserFactory(username="alice")
    client = client_for(user)
    # when
    first = client.post("/api/users/alice/follow")
    second = client.post("/api/users/alice/follow")
    # then
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["is_following"] is True and first.json()["follower_count"] == 1
    assert second.json() == first.json()
    alice.refresh_from_db()
    user.refresh_from_db()
    assert (alice.follower_count, user.following_count) == (1, 1)
    assert list(Notification.objects.filter(recipient=alice).values_list("verb", "actor_id")) == [("follow", user.pk)]


@pytest.mark.django_db
def test_unfollow_is_idempotent(user, client_for):
    alice = UserFactory(username="alice")
    client = client_for(user)
    client.post("/api/users/alice/follow")
    first = client.delete("/api/users/alice/follow")
    second = client.delete("/api/users/alice/follow")
    assert first.status_code == 200 and second.status_code == 200
    assert first.json()["is_following"] is False and first.json()["follower_count"] == 0
    alice.refresh_from_db()
    user.refresh_from_db()
    assert (alice.follower_count, user.following_count) == (0, 0)
    assert not Follow.objects.exists()


@pytest.mark.django_db
def test_follow_self_is_400_unknown_is_404(user, client_for):
    client = client_for(user)
    assert client.post(f"/api/users/{user.username}/follow").status_code == 400
    assert client.post("/api/users/nobody/follow").status_code == 404
    assert not Follow.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("direction, status", [("they_block_me", 404), ("i_block_them", 403)])
def test_follow_across_a_block_is_refused(user, client_for, direction, status):
    # (an account that blocked me does not exist for me: 404; one I blocked is refused: 403)
    alice = UserFactory(username="alice")
    if direction == "they_block_me":
        Block.objects.create(blocker=alice, blocked=user)
    else:
        Block.objects.create(blocker=user, blocked=alice)
    response = client_for(user).post("/api/users/alice/follow")
    assert response.status_code == status
    assert not Follow.objects.exists() and not Notification.objects.exists()


# --- followers / following lists -------------------------------------------------------


@pytest.mark.django_db
def test_followers_and_following_lists_newest_first_with_viewer_is_following(user, client_for):
    # given
    alice = UserFactory(username="alice")
    fans = [UserFactory() for _ in range(3)]
    for fan in fans:
        Follow.objects.create(follower=fan, followee=alice)
    Follow.objects.create(follower=user, followee=fans[0])
    Follow.objects.create(follower=alice, followee=user)
    client = client_for(user)
    # when
    followers = client.get("/api/users/alice/followers").json()
    following = client.get("/api/users/alice/following").json()
    # then
    assert [u["id"] for u in followers["results"]] == [f.pk for f in reversed(fans)]
    assert {u["id"]: u["is_following"] for u in followers["results"]} == {
        fans[0].pk: True,
        fans[1].pk: False,
        fans[2].pk: False,
    }
    assert set(followers["results"][0]) == PROFILE_FIELDS
    assert [u["id"] for u in following["results"]] == [user.pk]
    assert client.get("/api/users/nobody/followers").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["followers", "following"])
def test_follow_lists_cost_a_constant_number_of_queries(user, client_for, path):
    alice = UserFactory(username="alice")
    client = client_for(user)

    def count_for(n: int) -> int:
        Follow.objects.all().delete()
        others = User.objects.bulk_create(
            [User(username=f"{path}{n}_{i}", email=f"{path}{n}_{i}@example.com") for i in range(n)]
        )
        if path == "followers":
            Follow.objects.bulk_create([Follow(follower=o, followee=alice) for o in others])
        else:
            Follow.objects.bulk_create([Follow(follower=alice, followee=o) for o in others])
        Follow.objects.bulk_create([Follow(follower=user, followee=o) for o in others[::2]])
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/users/alice/{path}", {"limit": 100})
        assert len(response.json()["results"]) == n
        return len(queries.captured_queries)

    assert count_for(5) == count_for(50)


@pytest.mark.django_db
def test_me_patch_oversized_avatar_is_413_and_string_avatar_is_400(user, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(user)
    big = SimpleUploadedFile("big.jpg", b"\xff" * (11 * 1024 * 1024 + 10), content_type="image/jpeg")
    response = client.patch("/api/me", {"avatar": big}, format="multipart")
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    response = client.patch("/api/me", {"avatar": "https://example.com/me.jpg"}, format="json")
    assert response.status_code == 400 and "avatar" in response.json()["fields"]
    user.refresh_from_db()
    assert not user.avatar
