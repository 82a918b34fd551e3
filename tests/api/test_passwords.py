"""Password change and reset by an emailed link (DESIGN 6.6)."""

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts import mail as outgoing
from accounts.models import Credential, User
from core.crypto import digest
from tests.api.test_sessions import csrf, login, token_client
from tests.factories import PASSWORD, UserFactory

NEW_PASSWORD = "amber-orchard-compass-71"


@pytest.mark.django_db
def test_change_needs_the_old_password():
    UserFactory(username="alice")
    _, token = login("alice")
    response = token_client(token).post(
        "/api/me/password", {"old_password": "not-it-at-all-5", "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 400 and "old_password" in response.json()["fields"]
    assert User.objects.get(username="alice").check_password(PASSWORD)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "weak", ["short1", "password123", "12345678901", "harborview1"], ids=["short", "common", "numeric", "similar"]
)
def test_a_weak_new_password_is_refused_by_djangos_validators(weak):
    UserFactory(username="harborview")
    _, token = login("harborview")
    response = token_client(token).post(
        "/api/me/password", {"old_password": PASSWORD, "new_password": weak}, format="json"
    )
    assert response.status_code == 400 and "new_password" in response.json()["fields"]


@pytest.mark.django_db
def test_change_keeps_this_credential_and_revokes_every_other():
    # given: a browser session and two tokens
    UserFactory(username="alice")
    browser, first = login("alice")
    _, second = login("alice")
    # when: the browser changes the password
    response = browser.post(
        "/api/me/password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json", **csrf(browser)
    )
    # then
    assert response.status_code == 204
    assert browser.get("/api/me").status_code == 200
    assert token_client(first).get("/api/me").status_code == 401
    assert token_client(second).get("/api/me").status_code == 401
    assert list(Credential.objects.values_list("kind", flat=True)) == ["session"]
    assert User.objects.get(username="alice").check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_change_over_a_token_keeps_that_token():
    UserFactory(username="alice")
    browser, token = login("alice")
    response = token_client(token).post(
        "/api/me/password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 204
    assert token_client(token).get("/api/me").status_code == 200
    assert browser.get("/api/me").status_code == 401
    assert list(Credential.objects.values_list("digest", flat=True)) == [digest(token)]


def reset_link_in_mail() -> tuple[str, str]:
    outgoing.drain()
    assert len(mail.outbox) == 1
    match = re.search(r"/reset-password\?uid=([\w-]+)&token=([\w-]+)", mail.outbox[0].body)
    assert match, mail.outbox[0].body
    return match.group(1), match.group(2)


@pytest.mark.django_db
def test_reset_mails_a_link_that_sets_a_new_password_and_revokes_everything(api_client):
    # given
    UserFactory(username="alice", email="alice@example.com")
    _, token = login("alice")
    # when: a reset is asked for (the address in another case)
    response = api_client.post("/api/auth/password-reset", {"email": "Alice@Example.com"}, format="json")
    # then
    assert response.status_code == 202
    uid, reset_token = reset_link_in_mail()
    assert mail.outbox[0].to == ["alice@example.com"]
    # when: the link is used
    confirm = {"uid": uid, "token": reset_token, "new_password": NEW_PASSWORD}
    assert api_client.post("/api/auth/password-reset/confirm", confirm, format="json").status_code == 204
    # then: the new password works, every credential is gone, the link is spent
    assert User.objects.get(username="alice").check_password(NEW_PASSWORD)
    assert token_client(token).get("/api/me").status_code == 401
    assert not Credential.objects.exists()
    again = api_client.post("/api/auth/password-reset/confirm", confirm, format="json")
    assert again.status_code == 400 and again.json()["code"] == "invalid_token"


@pytest.mark.django_db
def test_reset_answers_the_same_for_an_unknown_address(api_client):
    response = api_client.post("/api/auth/password-reset", {"email": "nobody@example.com"}, format="json")
    assert response.status_code == 202 and response.content == b""
    outgoing.drain()
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"uid": "!!", "token": "x", "new_password": NEW_PASSWORD},
        {"uid": "MTIzNDU2Nzg5", "token": "abc-def", "new_password": NEW_PASSWORD},
    ],
)
def test_a_bad_reset_link_is_400_invalid_token(api_client, body):
    response = api_client.post("/api/auth/password-reset/confirm", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_token"


@pytest.mark.django_db
def test_reset_with_a_weak_password_keeps_the_link_usable(api_client):
    UserFactory(username="alice", email="alice@example.com")
    api_client.post("/api/auth/password-reset", {"email": "alice@example.com"}, format="json")
    uid, reset_token = reset_link_in_mail()
    weak = api_client.post(
        "/api/auth/password-reset/confirm", {"uid": uid, "token": reset_token, "new_password": "1234"}, format="json"
    )
    assert weak.status_code == 400 and "new_password" in weak.json()["fields"]
    good = {"uid": uid, "token": reset_token, "new_password": NEW_PASSWORD}
    assert api_client.post("/api/auth/password-reset/confirm", good, format="json").status_code == 204


@pytest.mark.django_db
def test_password_endpoints_need_their_fields(api_client):
    UserFactory(username="alice")
    _, token = login("alice")
    assert token_client(token).post("/api/me/password", {}, format="json").status_code == 400
    assert api_client.post("/api/auth/password-reset", {}, format="json").status_code == 400
    assert api_client.post("/api/me/password", {}, format="json").status_code == 401
    assert APIClient().post("/api/auth/password-reset/confirm", {"uid": "x"}, format="json").status_code == 400


@pytest.mark.django_db
def test_a_reset_from_the_signed_in_browser_itself_ends_that_session_cleanly(settings):
    # given: a browser signed in, whose session is due a touch
    settings.CREDENTIAL_TOUCH_SECONDS = 0
    UserFactory(username="alice", email="alice@example.com")
    browser, _ = login("alice")
    browser.post("/api/auth/password-reset", {"email": "alice@example.com"}, format="json", **csrf(browser))
    uid, reset_token = reset_link_in_mail()
    # when: the same browser confirms the reset
    confirm = {"uid": uid, "token": reset_token, "new_password": NEW_PASSWORD}
    response = browser.post("/api/auth/password-reset/confirm", confirm, format="json", **csrf(browser))
    # then: done, and that session is over too
    assert response.status_code == 204
    assert browser.get("/api/me").status_code == 401
