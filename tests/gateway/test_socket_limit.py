"""At most WS_MAX_SOCKETS_PER_USER sockets per account (DESIGN 6.6)."""

import pytest

from core.redis import REDIS
from realtime import presence
from tests.ws_helpers import (  # noqa: F401 - the fixture is used by every test
    _close_worker_thread_connections,
    communicator,
    make_token,
    make_user_with_token,
    open_socket,
    receive_close,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def refused(token: str) -> tuple[dict, int]:
    """Opens a socket that the limit refuses: its error frame and close code."""
    comm = communicator(token=token)
    connected, _ = await comm.connect(timeout=3)
    assert connected
    frame = await comm.receive_json_from(timeout=3)
    return frame, await receive_close(comm)


async def test_the_socket_over_the_limit_gets_too_many_sockets_then_4409(settings):
    # given
    settings.WS_MAX_SOCKETS_PER_USER = 3
    user, token = await make_user_with_token()
    other_token = await make_token(user)
    sockets = [(await open_socket(token))[0] for _ in range(3)]
    # when: a fourth, with another of the user's tokens
    frame, code = await refused(other_token)
    # then
    assert frame["type"] == "error" and frame["code"] == "too_many_sockets" and frame["ref"] is None
    assert code == 4409
    for comm in sockets:
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_json_from(timeout=2) == {"type": "pong"}
        await comm.disconnect()


async def test_the_count_recovers_as_sockets_close(settings):
    settings.WS_MAX_SOCKETS_PER_USER = 2
    _, token = await make_user_with_token()
    first, _ = await open_socket(token)
    second, _ = await open_socket(token)
    assert (await refused(token))[1] == 4409
    await first.disconnect()
    third, hello = await open_socket(token)
    assert hello["type"] == "hello"
    assert (await refused(token))[1] == 4409
    await second.disconnect()
    await third.disconnect()


async def test_the_limit_is_per_account(settings):
    settings.WS_MAX_SOCKETS_PER_USER = 1
    _, alice = await make_user_with_token()
    _, bob = await make_user_with_token()
    comm_a, _ = await open_socket(alice)
    comm_b, _ = await open_socket(bob)
    assert (await refused(alice))[1] == 4409
    await comm_a.disconnect()
    await comm_b.disconnect()


async def test_with_redis_away_the_limit_holds_per_process(settings):
    # given: Redis marked unreachable (the breaker is open)
    settings.WS_MAX_SOCKETS_PER_USER = 2
    _, token = await make_user_with_token()
    REDIS.failed("test")
    try:
        first, _ = await open_socket(token)
        second, _ = await open_socket(token)
        # then: this process still counts
        assert (await refused(token))[1] == 4409
        await first.disconnect()
        third, _ = await open_socket(token)
    finally:
        REDIS.reset()
    await second.disconnect()
    await third.disconnect()


async def test_admission_counts_sockets_across_processes_in_redis(settings):
    # given: two sockets another node registered for the user (presence is shared)
    settings.WS_MAX_SOCKETS_PER_USER = 3
    user, token = await make_user_with_token()
    for channel in ("elsewhere!1", "elsewhere!2"):
        assert (await presence.admit(user_id=user.pk, channel=channel, limit=3))[0]
    # when
    comm, _ = await open_socket(token)
    # then: that made three
    assert (await refused(token))[1] == 4409
    await presence.closed(user_id=user.pk, channel="elsewhere!1")
    again, _ = await open_socket(token)
    await comm.disconnect()
    await again.disconnect()
    await presence.closed(user_id=user.pk, channel="elsewhere!2")
