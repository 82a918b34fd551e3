"""Sessions and tokens a person is signed in with (DESIGN 6.6): listing, revoking, expiry."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.credentials import SESSION_TOUCHED
from accounts.models import Credential
from core.crypto import digest
from realtime.publish import credential_group
from tests.api.test_accounts import receive_after
from tests.factories import PASSWORD, UserFactory

SESSION_FIELDS = {"id", "kind", "created_at", "last_used_at", "user_agent", "ip", "current"}


def login(username: str, *, agent: str = "pytest-browser", ip: str = "203.0.113.7") -> tuple[APIClient, str]:
    """A client signed in by login (session cookie), and the token that login returned."""
    client = APIClient(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    response = client.post("/api/auth/login", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return client, response.json()["token"]


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def csrf(client: APIClient) -> dict:
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


@pytest.mark.django_db
def test_sessions_list_the_session_and_token_of_each_login_with_agent_and_address():
    # given: two logins from two places
    UserFactory(username="alice")
    _, token_1 = login("alice", agent="Firefox/1", ip="198.51.100.1")
    _, token_2 = login("alice", agent="Curl/8", ip="198.51.100.2")
    # when
    response = token_client(token_1).get("/api/me/sessions")
    # then
    assert response.status_code == 200
    rows = response.json()
    assert len(rows) == 4 and all(set(row) == SESSION_FIELDS for row in rows)
    assert sorted(row["kind"] for row in rows) == ["session", "session", "token", "token"]
    assert {(row["user_agent"], row["ip"]) for row in rows} == {
        ("Firefox/1", "198.51.100.1"),
        ("Curl/8", "198.51.100.2"),
    }
    current = [row for row in rows if row["current"]]
    assert len(current) == 1 and current[0]["kind"] == "token"
    assert Credential.objects.get(pk=current[0]["id"]).digest == digest(token_1)


@pytest.mark.django_db
def test_session_listing_marks_the_browser_session_current():
    UserFactory(username="alice")
    browser, _ = login("alice")
    rows = browser.get("/api/me/sessions").json()
    assert [row["kind"] for row in rows if row["current"]] == ["session"]


@pytest.mark.django_db
def test_revoking_a_token_ends_it_and_tells_its_sockets(django_capture_on_commit_callbacks):
    # given
    UserFactory(username="alice")
    _, mine = login("alice")
    _, other = login("alice")
    other_id = Credential.objects.get(digest=digest(other)).pk
    group = credential_group(digest(other))

    def revoke():
        with django_capture_on_commit_callbacks(execute=True):
            return token_client(mine).delete(f"/api/me/sessions/{other_id}")

    # when
    response, received = receive_after([group], revoke)
    # then
    assert response.status_code == 204
    assert received[group] == [{"type": "auth.revoked"}]
    assert token_client(other).get("/api/me").status_code == 401
    assert token_client(mine).get("/api/me").status_code == 200


@pytest.mark.django_db
def test_revoking_a_session_ends_the_browser_session():
    UserFactory(username="alice")
    browser, token = login("alice")
    assert browser.get("/api/me").status_code == 200
    session_id = Credential.objects.get(kind="session").pk
    assert token_client(token).delete(f"/api/me/sessions/{session_id}").status_code == 204
    assert browser.get("/api/me").status_code == 401


@pytest.mark.django_db
def test_someone_elses_or_an_unknown_session_is_404():
    UserFactory(username="alice")
    UserFactory(username="bob")
    _, alice = login("alice")
    _, bob = login("bob")
    bobs = Credential.objects.get(digest=digest(bob)).pk
    assert token_client(alice).delete(f"/api/me/sessions/{bobs}").status_code == 404
    assert token_client(alice).delete("/api/me/sessions/99999999999999999999999").status_code == 404
    assert token_client(bob).get("/api/me").status_code == 200


@pytest.mark.django_db
def test_log_out_everywhere_else_keeps_only_the_current_credential(django_capture_on_commit_callbacks):
    # given: a browser and two token clients
    UserFactory(username="alice")
    browser, first = login("alice")
    _, second = login("alice")
    groups = [credential_group(digest(first)), credential_group(digest(second))]

    def revoke_others():
        with django_capture_on_commit_callbacks(execute=True):
            return browser.post("/api/me/sessions/revoke-others", **csrf(browser))

    # when
    response, received = receive_after(groups, revoke_others)
    # then: 3 revoked (two tokens, the second login's session), the browser stays
    assert response.status_code == 200 and response.json() == {"revoked": 3}
    assert all(received[group] == [{"type": "auth.revoked"}] for group in groups)
    assert token_client(first).get("/api/me").status_code == 401
    assert token_client(second).get("/api/me").status_code == 401
    assert browser.get("/api/me").status_code == 200
    assert [row["kind"] for row in browser.get("/api/me/sessions").json()] == ["session"]


@pytest.mark.django_db
def test_a_token_unused_for_the_ttl_has_expired(settings):
    settings.TOKEN_TTL_DAYS = 30
    UserFactory(username="alice")
    _, token = login("alice")
    Credential.objects.filter(digest=digest(token)).update(last_used_at=timezone.now() - timedelta(days=30, minutes=1))
    assert token_client(token).get("/api/me").status_code == 401


@pytest.mark.django_db
def test_token_expiry_slides_with_use_but_is_written_at_most_once_per_interval(settings):
    # given: a token last touched 29 days ago
    settings.TOKEN_TTL_DAYS = 30
    settings.CREDENTIAL_TOUCH_SECONDS = 300
    UserFactory(username="alice")
    _, token = login("alice")
    old = timezone.now() - timedelta(days=29)
    Credential.objects.filter(digest=digest(token)).update(last_used_at=old)
    client = token_client(token)
    # when: used three times
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert client.get("/api/me").status_code == 200
    # then: one write, and the token now has 30 days again
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    touched = Credential.objects.get(digest=digest(token)).last_used_at
    assert touched > timezone.now() - timedelta(minutes=1)


@pytest.mark.django_db
def test_a_session_is_touched_at_most_once_per_interval(settings):
    settings.CREDENTIAL_TOUCH_SECONDS = 300
    UserFactory(username="alice")
    browser, _ = login("alice", agent="Old/1")
    Credential.objects.filter(kind="session").update(last_used_at=timezone.now() - timedelta(days=2))
    session = browser.session
    session[SESSION_TOUCHED] = 0
    session.save()
    browser.defaults["HTTP_USER_AGENT"] = "New/2"
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert browser.get("/api/me").status_code == 200
    credential_updates = [q for q in queries.captured_queries if q["sql"].startswith('UPDATE "accounts_credential"')]
    assert len(credential_updates) == 1
    row = Credential.objects.get(kind="session")
    assert row.user_agent == "New/2" and row.last_used_at > timezone.now() - timedelta(minutes=1)


@pytest.mark.django_db
def test_a_session_that_ended_on_its_own_is_not_listed():
    UserFactory(username="alice")
    browser, token = login("alice")
    from django.contrib.sessions.models import Session

    Session.objects.all().delete()
    rows = token_client(token).get("/api/me/sessions").json()
    assert [row["kind"] for row in rows] == ["token"]
    assert not Credential.objects.filter(kind="session").exists()


@pytest.mark.django_db
def test_a_session_key_is_not_usable_as_a_token():
    UserFactory(username="alice")
    browser, _ = login("alice")
    session_key = browser.cookies["sessionid"].value
    assert token_client(session_key).get("/api/me").status_code == 401


@pytest.mark.django_db
def test_sessions_need_authentication(api_client):
    assert api_client.get("/api/me/sessions").status_code == 401
    assert api_client.post("/api/me/sessions/revoke-others").status_code == 401
