"""Gateway handshake: hello, authentication, the Origin rule, logout."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.test import Client

from core.crypto import digest
from realtime import presence
from realtime.publish import credential_group
from tests.ws_helpers import (  # noqa: F401 - the fixture is used by every test
    _close_worker_thread_connections,
    append_event,
    communicator,
    make_token,
    make_user,
    make_user_with_token,
    open_socket,
    receive_close,
)

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def session_cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def test_hello_carries_the_user_and_last_event_id():
    # given
    user, token = await make_user_with_token()
    await append_event(user.pk, {"n": 1})
    await append_event(user.pk, {"n": 2})
    # when
    comm, hello = await open_socket(token)
    # then
    assert hello == {
        "type": "hello",
        "user": {"id": user.pk, "username": user.username, "full_name": user.full_name, "avatar_url": None},
        "last_event_id": 2,
    }
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


async def online(user_id: int, expected: bool) -> bool:
    """Whether presence comes to say `expected` for the user within two seconds."""
    for _ in range(40):
        if (user_id in await sync_to_async(presence.online_among)([user_id])) == expected:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_new_user_hello_has_last_event_id_zero_and_presence_counts_the_socket():
    user, token = await make_user_with_token()
    comm, hello = await open_socket(token)
    assert hello["last_event_id"] == 0
    assert await online(user.pk, True)
    await comm.disconnect()
    assert await online(user.pk, False)


async def test_no_credentials_accepts_then_closes_4401():
    comm = communicator()
    connected, _ = await comm.connect()
    assert connected
    assert await receive_close(comm) == 4401


async def test_unknown_token_closes_4401():
    await make_user()
    comm = communicator(token="not-a-real-token")
    connected, _ = await comm.connect()
    assert connected
    assert await receive_close(comm) == 4401


async def test_token_in_query_string_authenticates():
    user, token = await make_user_with_token()
    comm = communicator(query=f"token={token}")
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from()
    assert hello["type"] == "hello" and hello["user"]["id"] == user.pk
    await comm.disconnect()


async def test_foreign_origin_is_refused_even_with_a_valid_token():
    _user, token = await make_user_with_token()
    comm = communicator(token=token, headers=[(b"origin", b"https://evil.example")])
    connected, _code = await comm.connect()
    assert not connected


@pytest.mark.parametrize("origin", [b"null", b"", b"javascript:alert(1)", b"http://localhost.evil.example"])
async def test_malformed_or_lookalike_origins_are_refused(origin):
    _user, token = await make_user_with_token()
    comm = communicator(token=token, headers=[(b"origin", origin)])
    connected, _code = await comm.connect()
    assert not connected


async def test_allowed_origin_with_token_is_accepted():
    _user, token = await make_user_with_token()
    comm = communicator(token=token, headers=[(b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000")])
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from())["type"] == "hello"
    await comm.disconnect()


@pytest.mark.parametrize(
    "origin, host",
    [
        # another app on another port of an allowed host
        (b"http://localhost:9000", b"localhost:8000"),
        (b"http://localhost", b"localhost:8000"),
        (b"http://localhost:8000", b"localhost"),
        # plain http against a socket opened over https, and the other way round
        (b"https://localhost:8000", b"localhost:8000"),
        # an allowed origin, but the Host header names no allowed host
        (b"http://evil.example:8000", b"evil.example:8000"),
        (b"http://localhost:8000", b""),
        (b"http://localhost:8000/path", b"localhost:8000"),
        (b"http://user@localhost:8000", b"localhost:8000"),
    ],
)
async def test_the_origin_must_be_the_sockets_own_scheme_host_and_port(origin, host):
    _user, token = await make_user_with_token()
    headers = [(b"origin", origin)] + ([(b"host", host)] if host else [])
    comm = communicator(token=token, headers=headers)
    connected, code = await comm.connect()
    assert not connected and code == 1008


async def test_default_ports_and_case_do_not_make_another_origin():
    _user, token = await make_user_with_token()
    for origin, host in ((b"http://LocalHost:80", b"localhost"), (b"http://[::1]:8000", b"[::1]:8000")):
        comm = communicator(token=token, headers=[(b"origin", origin), (b"host", host)])
        connected, _ = await comm.connect()
        assert connected, origin
        assert (await comm.receive_json_from())["type"] == "hello"
        await comm.disconnect()


async def test_behind_a_tls_proxy_the_https_origin_is_the_sockets_own(settings):
    # given: the balancer terminates TLS and says so, as REST's CSRF check trusts it to
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    _user, token = await make_user_with_token()
    forwarded = [(b"host", b"localhost:8443"), (b"x-forwarded-proto", b"https")]
    # when / then: the https page of that host and port may open it, its http twin may not
    comm = communicator(token=token, headers=[(b"origin", b"https://localhost:8443"), *forwarded])
    connected, _ = await comm.connect()
    assert connected
    await comm.disconnect()
    comm = communicator(token=token, headers=[(b"origin", b"http://localhost:8443"), *forwarded])
    connected, _ = await comm.connect()
    assert not connected


async def test_a_csrf_trusted_origin_may_open_a_socket(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.localhost", "https://*.example.localhost"]
    settings.ALLOWED_HOSTS = ["localhost", ".localhost"]
    _user, token = await make_user_with_token()
    for origin, allowed in (
        (b"https://app.localhost", True),
        (b"https://a.example.localhost", True),
        (b"http://app.localhost", False),
        (b"https://app.localhost:444", False),
    ):
        comm = communicator(token=token, headers=[(b"origin", origin), (b"host", b"localhost:8000")])
        connected, _ = await comm.connect()
        assert connected is allowed, origin
        if connected:
            await comm.disconnect()


async def test_token_without_origin_is_accepted():
    _user, token = await make_user_with_token()
    comm, hello = await open_socket(token)
    assert hello["type"] == "hello"
    await comm.disconnect()


async def test_session_cookie_with_allowed_origin_authenticates():
    user = await make_user()
    cookie = await session_cookie_for(user)
    comm = communicator(
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", f"csrftoken=x; sessionid={cookie}".encode()),
        ]
    )
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from()
    assert hello["type"] == "hello" and hello["user"]["id"] == user.pk
    await comm.disconnect()


async def test_session_cookie_without_origin_is_not_enough():
    user = await make_user()
    cookie = await session_cookie_for(user)
    comm = communicator(headers=[(b"cookie", f"sessionid={cookie}".encode())])
    connected, _ = await comm.connect()
    assert connected
    assert await receive_close(comm) == 4401


async def test_session_cookie_with_foreign_origin_is_refused():
    user = await make_user()
    cookie = await session_cookie_for(user)
    comm = communicator(headers=[(b"origin", b"https://evil.example"), (b"cookie", f"sessionid={cookie}".encode())])
    connected, _ = await comm.connect()
    assert not connected


async def test_auth_revoked_on_the_credential_group_closes_the_socket_4401():
    # given: two sockets of one user, on two different tokens
    user = await make_user()
    token_a, token_b = await make_token(user), await make_token(user)
    comm_a, _ = await open_socket(token_a)
    comm_b, _ = await open_socket(token_b)
    # when: token A is revoked (what logout publishes)
    await get_channel_layer().group_send(credential_group(digest(token_a)), {"type": "auth.revoked"})
    # then: only the socket opened with token A closes
    assert await receive_close(comm_a) == 4401
    await comm_b.send_json_to({"type": "ping"})
    assert await comm_b.receive_json_from() == {"type": "pong"}
    await comm_b.disconnect()


async def test_periodic_check_closes_a_socket_whose_token_was_deleted(settings):
    # given: a quick periodic check, and the revoke publish lost (token row deleted directly)
    settings.WS_LOG_CHECK_SECONDS = 0.1
    user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    from accounts.models import Credential

    await sync_to_async(Credential.objects.filter(digest=digest(token)).delete)()
    # then
    assert await receive_close(comm, within=3) == 4401


async def test_logout_over_rest_closes_the_socket_that_used_its_token():
    from rest_framework.test import APIClient

    user, token = await make_user_with_token()
    comm, _ = await open_socket(token)

    @sync_to_async
    def logout():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client.post("/api/auth/logout")

    response = await logout()
    assert response.status_code in (200, 204), response.content
    assert await receive_close(comm) == 4401
