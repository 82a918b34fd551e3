"""Authentication: credentials at rest, sessions, CSRF, passwords, login errors and redirects."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Credential, User
from core.crypto import digest
from tests.factories import PASSWORD, UserFactory
from tests.security.helpers import raw_client

pytestmark = pytest.mark.django_db


def test_tokens_are_stored_as_sha256_digests_only():
    # when
    response = APIClient().post(
        "/api/auth/register", {"username": "newbie", "email": "n@example.com", "password": PASSWORD}, format="json"
    )
    key = response.json()["token"]
    # then
    stored = Credential.objects.get(user__username="newbie", kind="token")
    assert stored.digest == digest(key) != key
    assert not Credential.objects.filter(digest=key).exists()
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
    browser.post(
        "/api/auth/login", json.dumps({"username": "alice", "password": PASSWORD}), content_type="application/json"
    )
    body = json.dumps({"up_to": 1})
    # when / then
    assert browser.post("/api/notifications/read", body, content_type="application/json").status_code == 403
    assert (
        browser.post(
            "/api/notifications/read", body, content_type="application/json", HTTP_X_CSRFTOKEN="forged" * 6
        ).status_code
        == 403
    )
    assert browser.post("/api/auth/logout", content_type="application/json").status_code == 403
    token = browser.cookies["csrftoken"].value
    assert (
        browser.post(
            "/api/notifications/read", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
        ).status_code
        == 200
    )
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
    [
        ("short1!", "too short"),
        ("password123", "too common"),
        ("84736251948", "entirely numeric"),
        ("alice.wonder", "too similar"),
    ],
)
def test_registration_refuses_weak_passwords(password, why):
    response = APIClient().post(
        "/api/auth/register",
        {"username": "alice.wonder", "email": "a@example.com", "password": password},
        format="json",
    )
    assert response.status_code == 400, why
    assert "password" in response.json()["fields"]
    assert not User.objects.filter(username="alice.wonder").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "x" * 65),
        ("username", "a b"),
        ("username", "<script>"),
        ("email", "x" * 250 + "@e.co"),
        ("password", "p" * 257),
    ],
)
def test_registration_bounds_every_field(field, value):
    body = {"username": "fine_name", "email": "fine@example.com", "password": PASSWORD, field: value}
    response = raw_client().post("/api/auth/register", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x=1",
    ],
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
