"""The gateway and credentials that end: expired tokens, revocation from elsewhere."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Credential
from core.crypto import digest
from tests.ws_helpers import (  # noqa: F401 - the fixture is used by every test
    _close_worker_thread_connections,
    communicator,
    make_token,
    make_user_with_token,
    open_socket,
    receive_close,
)

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def set_last_used(token: str, when) -> None:
    Credential.objects.filter(digest=digest(token)).update(last_used_at=when)


@sync_to_async
def last_used(token: str):
    return Credential.objects.get(digest=digest(token)).last_used_at


async def test_an_expired_token_is_refused_at_the_handshake(settings):
    settings.TOKEN_TTL_DAYS = 30
    _, token = await make_user_with_token()
    await set_last_used(token, timezone.now() - timedelta(days=31))
    comm = communicator(token=token)
    connected, _ = await comm.connect(timeout=3)
    assert connected
    assert await receive_close(comm) == 4401


async def test_a_handshake_slides_a_token_last_touched_long_ago(settings):
    settings.CREDENTIAL_TOUCH_SECONDS = 300
    _, token = await make_user_with_token()
    await set_last_used(token, timezone.now() - timedelta(days=20))
    comm, _ = await open_socket(token)
    assert await last_used(token) > timezone.now() - timedelta(minutes=1)
    await comm.disconnect()


async def test_a_handshake_soon_after_a_touch_writes_nothing(settings):
    settings.CREDENTIAL_TOUCH_SECONDS = 300
    _, token = await make_user_with_token()
    recent = timezone.now() - timedelta(seconds=60)
    await set_last_used(token, recent)
    comm, _ = await open_socket(token)
    assert await last_used(token) == recent
    await comm.disconnect()


async def test_many_handshakes_at_once_each_find_their_own_user():
    pairs = [await make_user_with_token() for _ in range(12)]
    opened = await asyncio.gather(*(open_socket(token) for _, token in pairs))
    assert [hello["user"]["id"] for _, hello in opened] == [user.pk for user, _ in pairs]
    for comm, _ in opened:
        await comm.disconnect()


async def test_the_periodic_check_closes_a_socket_whose_token_expired(settings):
    settings.WS_LOG_CHECK_SECONDS = 0.1
    settings.TOKEN_TTL_DAYS = 30
    _, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    await set_last_used(token, timezone.now() - timedelta(days=31))
    assert await receive_close(comm, within=3) == 4401


async def test_revoking_a_token_over_rest_closes_its_socket_at_once():
    user, token = await make_user_with_token()
    other = await make_token(user)
    comm, _ = await open_socket(token)

    @sync_to_async
    def revoke():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {other}")
        credential_id = Credential.objects.get(digest=digest(token)).pk
        return client.delete(f"/api/me/sessions/{credential_id}")

    assert (await revoke()).status_code == 204
    assert await receive_close(comm, within=2) == 4401


async def test_log_out_everywhere_else_closes_the_other_sockets_only():
    user, token = await make_user_with_token()
    keeper = await make_token(user)
    gone, _ = await open_socket(token)
    kept, _ = await open_socket(keeper)

    @sync_to_async
    def revoke_others():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {keeper}")
        return client.post("/api/me/sessions/revoke-others")

    assert (await revoke_others()).json() == {"revoked": 1}
    assert await receive_close(gone, within=2) == 4401
    await kept.send_json_to({"type": "ping"})
    assert await kept.receive_json_from(timeout=2) == {"type": "pong"}
    await kept.disconnect()
