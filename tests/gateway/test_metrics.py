"""The gateway's figures at /metrics move with what sockets do: sockets open, frames in by
type, closes by code, delivery latency from commit to send (live pushes), gaps filled from
the log, events out by path and events appended by kind."""

import uuid

import pytest
from prometheus_client import REGISTRY

from realtime.consumers import CLOSE_TOO_BIG, CLOSE_UNAUTHENTICATED
from tests.ws_helpers import (  # noqa: F401 - the fixture is used by every test
    _close_worker_thread_connections,
    append_event,
    communicator,
    make_user_with_token,
    nothing_more,
    open_conversation,
    open_socket,
    receive_close,
    receive_events,
    receive_frames,
    send,
)

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_sockets_open_frames_in_delivery_latency_and_events_appended():
    # given
    alice, alice_token = await make_user_with_token()
    bob, bob_token = await make_user_with_token()
    conversation = await open_conversation(alice, bob)
    open_before = sample("instaclone_ws_connections")
    frames_before = sample("instaclone_ws_frames_in_total", type="message.send")
    invalid_before = sample("instaclone_ws_frames_in_total", type="invalid")
    latency_before = sample("instaclone_delivery_latency_seconds_count")
    live_before = sample("instaclone_ws_events_out_total", path="live")
    appended_before = sample("instaclone_events_appended_total", kind="message.new")
    # when: two sockets open
    alice_tab, _ = await open_socket(alice_token)
    bob_tab, _ = await open_socket(bob_token)
    # then
    assert sample("instaclone_ws_connections") == open_before + 2
    # when: alice sends one DM over her socket, and one frame that is not JSON
    await send(
        alice_tab,
        {
            "type": "message.send",
            "ref": "r1",
            "conversation": conversation,
            "body": "hi",
            "client_id": str(uuid.uuid4()),
        },
    )
    await receive_frames(alice_tab, 2)  # the ack and the event
    await receive_events(bob_tab, 1)
    await alice_tab.send_to(text_data="not json")
    await receive_frames(alice_tab, 1)
    # then: frames by type, one event per recipient appended, two live sends timed
    assert sample("instaclone_ws_frames_in_total", type="message.send") == frames_before + 1
    assert sample("instaclone_ws_frames_in_total", type="invalid") == invalid_before + 1
    assert sample("instaclone_events_appended_total", kind="message.new") == appended_before + 2
    assert sample("instaclone_ws_events_out_total", path="live") == live_before + 2
    assert sample("instaclone_delivery_latency_seconds_count") == latency_before + 2
    assert sample("instaclone_delivery_latency_seconds_bucket", le="10.0") == sample(
        "instaclone_delivery_latency_seconds_count"
    )
    # when: both close
    await alice_tab.disconnect()
    await bob_tab.disconnect()
    # then
    assert sample("instaclone_ws_connections") == open_before


async def test_a_gap_filled_from_the_log_is_counted():
    # given
    user, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    gaps_before = sample("instaclone_ws_gaps_filled_total")
    gap_sends_before = sample("instaclone_ws_events_out_total", path="gap")
    # when: event 1's publish is lost, event 2's arrives
    await append_event(user.pk, {"n": 1}, publish=False)
    await append_event(user.pk, {"n": 2})
    await receive_events(comm, 2)
    # then
    assert sample("instaclone_ws_gaps_filled_total") == gaps_before + 1
    assert sample("instaclone_ws_events_out_total", path="gap") == gap_sends_before + 2
    assert await nothing_more(comm, within=0.1)
    await comm.disconnect()


async def test_closes_are_counted_by_code(settings):
    # given
    unauthenticated_before = sample("instaclone_ws_closes_total", code=str(CLOSE_UNAUTHENTICATED))
    too_big_before = sample("instaclone_ws_closes_total", code=str(CLOSE_TOO_BIG))
    # when: a socket without credentials
    anonymous = communicator()
    await anonymous.connect(timeout=3)
    assert await receive_close(anonymous) == CLOSE_UNAUTHENTICATED
    # and a frame over the size limit
    _, token = await make_user_with_token()
    comm, _ = await open_socket(token)
    await comm.send_to(text_data="x" * (settings.WS_MAX_FRAME_BYTES + 1))
    assert await receive_close(comm) == CLOSE_TOO_BIG
    # then
    assert sample("instaclone_ws_closes_total", code=str(CLOSE_UNAUTHENTICATED)) == unauthenticated_before + 1
    assert sample("instaclone_ws_closes_total", code=str(CLOSE_TOO_BIG)) == too_big_before + 1
