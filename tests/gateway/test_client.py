"""The example client's pure parts: backoff with jitter, resume URLs, dedupe and resync."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
from instaclone_client import InstacloneClient, backoff_delays, with_query  # noqa: E402


def test_backoff_grows_exponentially_with_full_jitter_under_the_cap():
    rng = random.Random(7)
    delays = backoff_delays(0.1, 5.0, rng)
    first = [next(delays) for _ in range(40)]
    for attempt, delay in enumerate(first):
        assert 0 <= delay <= min(5.0, 0.1 * 2**attempt)
    assert max(first[:3]) <= 0.4
    assert max(first[20:]) > 1.0  # late attempts spread over the whole capped window
    assert len(set(first)) == len(first)  # jitter: no two clients wait in lockstep


def test_resume_url_keeps_existing_query():
    assert with_query("ws://h/ws/", after=5) == "ws://h/ws/?after=5"
    assert with_query("ws://h/ws/?token=t", after=0) == "ws://h/ws/?token=t&after=0"
    assert with_query("ws://h/ws/", after=None) == "ws://h/ws/"


class FakeSocket:
    request = None


async def test_client_drops_replayed_ids_and_follows_resync():
    resyncs = []
    client = InstacloneClient("ws://h/ws/", token="t", after=3, on_resync=resyncs.append)
    ws = FakeSocket()
    client._current_url = "ws://h/ws/"
    client._handle({"type": "hello", "user": {"id": 1}, "last_event_id": 9}, ws, resuming=True)
    assert client.last_event_id == 3  # resuming: position stays until events arrive
    for seq in (4, 4, 3, 5):
        client._handle({"type": "event", "id": seq, "event": "message.new", "data": {}}, ws, resuming=True)
    assert [client.events.get_nowait()["id"] for _ in range(client.events.qsize())] == [4, 5]
    client._handle({"type": "error", "ref": None, "code": "resync_required", "detail": ""}, ws, resuming=True)
    assert client.last_event_id == 9 and resyncs == [9]
