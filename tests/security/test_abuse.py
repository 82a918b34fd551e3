"""Abuse: throttles cannot be dodged, and no loop floods anyone."""

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from chat.models import Message
from core.throttling import ScopedThrottle
from notifications.models import Notification
from tests.factories import PASSWORD, UserFactory, client_id
from tests.security.helpers import raw_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("path", "scope"), [("/api/auth/login", "login"), ("/api/auth/register", "register")])
def test_a_forged_x_forwarded_for_does_not_reset_the_login_and_register_throttles(path, scope, monkeypatch):
    # given: 2 attempts a minute per address
    monkeypatch.setattr(ScopedThrottle, "THROTTLE_RATES", {**ScopedThrottle.THROTTLE_RATES, scope: "2/min"})
    UserFactory(username="alice")
    client = APIClient()
    body = {"username": "alice", "password": "wrong-password-1", "email": "x@example.com"}
    # when: every attempt claims another client address
    codes = [
        client.post(
            path, body, format="json", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}", REMOTE_ADDR="203.0.113.9"
        ).status_code
        for n in range(4)
    ]
    # then: the address the connection came from is what counts
    assert codes[2:] == [429, 429], codes


def test_the_load_balancer_overwrites_x_forwarded_for_instead_of_passing_the_clients_on():
    conf = (Path(settings.BASE_DIR) / "deploy" / "nginx.conf").read_text()
    assert "$proxy_add_x_forwarded_for" not in conf
    assert conf.count("proxy_set_header X-Forwarded-For $remote_addr;") == conf.count("proxy_pass ")


def test_the_admin_login_form_is_throttled_like_the_api_login(monkeypatch):
    # given: 2 login attempts a minute per address
    monkeypatch.setattr(ScopedThrottle, "THROTTLE_RATES", {**ScopedThrottle.THROTTLE_RATES, "login": "2/min"})
    UserFactory(username="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.get("/admin/login/")
    # when: a password guesser posts the admin's form
    codes = [
        client.post(
            "/admin/login/", {"username": "admin", "password": f"guess-{n}"}, HTTP_X_FORWARDED_FOR=f"10.1.1.{n}"
        ).status_code
        for n in range(4)
    ]
    # then
    assert codes == [200, 200, 429, 429]
    # and the right password still works once the window passes (a fresh address here)
    ok = Client().post("/admin/login/", {"username": "admin", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7")
    assert ok.status_code == 302


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
        return client.post(
            f"/api/conversations/{conversation}/messages", {"body": "rest", "client_id": client_id()}, format="json"
        ).status_code

    assert await rest_send() == 201
    tab, _ = await open_socket(token)
    # when: the socket sends three more
    replies = []
    for n in range(3):
        await send(
            tab,
            {
                "type": "message.send",
                "ref": f"r{n}",
                "conversation": conversation,
                "body": "ws",
                "client_id": client_id(),
            },
        )
        replies.append(await receive_json(tab, skip=("presence", "event")))
    # then: two pass, the third is throttled and the socket lives
    assert [r["type"] for r in replies] == ["ack", "ack", "error"]
    assert replies[2]["code"] == "throttled"
    assert await sync_to_async(Message.objects.count)() == 3
    await send(tab, {"type": "ping"})
    assert await receive_json(tab, skip=("presence", "event")) == {"type": "pong"}
    await tab.disconnect()
