"""A socket fuzzer against a real daphne node: well over 100,000 generated frames (valid,
malformed, oversized, deeply nested, wrongly typed, naming other people's conversations and
messages) over many sockets at once. Every bad frame is answered by an `error` frame and the
socket lives on (a frame over the size limit closes it with 1009, as the protocol says, and
the fuzzer reconnects); no consumer crashes (nothing in the node's log); the node's memory
after the run is within 10% of what it was after a warm-up.

Frames on one socket are handled in order, so the fuzzer sends a batch, then a `ping`, and
reads until its `pong`: the answers in between (events, presence and typing aside) must be
exactly the ones each frame calls for."""

import asyncio
import contextlib
import json
import os
import random
import time
import uuid

import httpx
import pytest
import websockets

from tests.servers import NO_FLOOD_GUARD, Node, fresh_node

FRAMES = int(os.environ.get("FUZZ_SOCKET_FRAMES", "100000"))
SOCKETS = 24
BATCH = 250
WARM_UP = 0.2  # of the frames, before memory is first read
FRAME_LIMIT = 64 * 1024
SKIP = {"event", "presence", "typing", "feed.post", "story.new", "post.update", "post.delete", "hello"}


@pytest.fixture(scope="module")
def node():
    with fresh_node(
        "fuzz_ws",
        CACHE_PREFIX=f"fuzz-{uuid.uuid4().hex[:8]}",
        **NO_FLOOD_GUARD,
        THROTTLE_RATES="anon=none,user=none,register=none,login=none,message=none",
        LOG_LEVEL="WARNING",
    ) as server:
        yield server


class People:
    """Users, their tokens, and conversations between pairs (each user is in one with the
    next; every other conversation and its messages are someone else's)."""

    def __init__(self, node: Node, count: int):
        self.users: list[dict] = []
        with httpx.Client(base_url=node.http, timeout=30) as http:
            for _ in range(count):
                name = f"f{uuid.uuid4().hex[:10]}"
                body = http.post(
                    "/api/auth/register",
                    json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-battery-9"},
                ).json()
                self.users.append({"token": body["token"], "username": name, "id": body["user"]["id"]})
            self.mine: dict[int, int] = {}
            self.messages: dict[int, int] = {}
            self.seen: dict[int, int] = {}  # user index -> the newest event id their socket saw
            for i, user in enumerate(self.users):
                other = self.users[(i + 1) % count]
                auth = {"Authorization": f"Token {user['token']}"}
                conversation = http.post("/api/conversations", json={"usernames": [other["username"]]}, headers=auth)
                cid = conversation.json()["id"]
                self.mine[i] = cid
                sent = http.post(
                    f"/api/conversations/{cid}/messages",
                    json={"body": "seed", "client_id": uuid.uuid4().hex},
                    headers=auth,
                )
                self.messages[cid] = sent.json()["id"]

    def foreign(self, i: int, rng: random.Random) -> int:
        """A conversation user `i` is not in."""
        own = {self.mine[i], self.mine[(i - 1) % len(self.users)]}
        return rng.choice([c for c in self.mine.values() if c not in own])


def deep(rng: random.Random) -> str:
    """Nesting past what the parser recurses through (about 1,000 levels), within the 64 KiB
    frame limit."""
    depth = rng.choice([200, 1200, 3000])
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


WRONG = [None, True, False, 0, -1, 1.5, 2**70, -(2**63), "7", "", "x" * 300, [], [1], {}, {"id": 1}]


def generate(rng: random.Random, people: People, i: int) -> tuple[str | bytes, str]:
    """One frame for user i's socket and the answer it calls for: `error`, `ack`, `pong`,
    `resumed`, `silent` or `close` (1009)."""
    own = people.mine[i]
    ref = f"r{rng.randrange(10**9)}"
    roll = rng.random()
    if roll < 0.03:
        return json.dumps({"type": "ping"}), "pong"
    if roll < 0.05:
        return json.dumps({"type": "typing", "conversation": own}), "silent"
    if roll < 0.06:
        body = {"type": "message.send", "ref": ref, "conversation": own, "body": "fuzz", "client_id": uuid.uuid4().hex}
        return json.dumps(body), "ack"
    if roll < 0.07:
        return json.dumps(
            {"type": "message.read", "ref": ref, "conversation": own, "message_id": people.messages[own]}
        ), "ack"
    if roll < 0.075:
        return json.dumps({"type": "resume", "ref": ref, "after": people.seen.get(i, 0)}), "resumed"
    if roll < 0.0753:
        return "x" * (FRAME_LIMIT + rng.randrange(1, 4096)), "close"
    kind = rng.randrange(14)
    if kind == 0:  # not JSON at all
        return rng.choice(["", "{", "nul", "{'type': 'ping'}", "\x00\x01", "[1,", "💥" * 50]), "error"
    if kind == 1:  # JSON, not an object
        return json.dumps(rng.choice([[], [1, 2], 3, "ping", None, True, 1.5])), "error"
    if kind == 2:  # deeply nested
        return deep(rng), "error"
    if kind == 3:  # binary
        return rng.randbytes(rng.randrange(1, 512)), "error"
    if kind == 4:  # no or unknown type
        frame = rng.choice([{}, {"ref": ref}, {"type": "nope", "ref": ref}, {"type": rng.choice(WRONG), "ref": ref}])
        return json.dumps(frame), "error"
    if kind == 5:  # a bad ref
        return json.dumps({"type": "ping", "ref": rng.choice([{}, [], 1.5, "r" * 500, True])}), "error"
    if kind == 6:  # someone else's conversation
        frame_type = rng.choice(["message.send", "message.read", "typing"])
        other = people.foreign(i, rng)
        frame = {"type": frame_type, "ref": ref, "conversation": other, "body": "hi", "client_id": uuid.uuid4().hex}
        frame["message_id"] = people.messages[other]
        return json.dumps(frame), "error"
    if kind == 7:  # someone else's message in my conversation
        other = people.foreign(i, rng)
        return json.dumps(
            {"type": "message.read", "ref": ref, "conversation": own, "message_id": people.messages[other]}
        ), "error"
    if kind == 8:  # a missing or wrongly typed field
        frame = {"type": rng.choice(["message.send", "message.read", "typing"]), "ref": ref}
        field = rng.choice(["conversation", "body", "client_id", "message_id"])
        frame["conversation"] = own if field != "conversation" else rng.choice(WRONG)
        frame["body"] = "hi" if field != "body" else rng.choice([None, 1, [], {}])
        frame["client_id"] = uuid.uuid4().hex if field != "client_id" else rng.choice([None, 1, [], "c" * 100])
        frame["message_id"] = people.messages[own] if field != "message_id" else rng.choice(WRONG)
        if frame["type"] == "typing" and field != "conversation":
            frame["conversation"] = rng.choice(WRONG)
        if frame["type"] == "message.read" and field in ("body", "client_id"):
            frame["message_id"] = rng.choice(WRONG)
        if frame["type"] == "message.send" and field == "message_id":
            frame["body"] = rng.choice([None, 1, [], {}, "", "x" * 4001])
        return json.dumps(frame), "error"
    if kind == 9:  # a body out of bounds
        body = rng.choice(["", "   ", "x" * 4001, "é" * 4001])
        return json.dumps(
            {"type": "message.send", "ref": ref, "conversation": own, "body": body, "client_id": uuid.uuid4().hex}
        ), "error"
    if kind == 10:  # resume from nonsense
        return json.dumps({"type": "resume", "ref": ref, "after": rng.choice([-1, "x", None, 1.5, 2**70, []])}), "error"
    if kind == 11:  # ids out of range
        return json.dumps(
            {"type": "message.read", "ref": ref, "conversation": rng.choice([0, -5, 2**63, 10**30]), "message_id": 1}
        ), "error"
    if kind == 12:  # a conversation that does not exist
        return json.dumps({"type": "typing", "ref": ref, "conversation": 10**9 + rng.randrange(1000)}), "error"
    pad = rng.randrange(60000, 65000) if rng.random() < 0.05 else rng.randrange(0, 4000)
    return json.dumps({"type": "ping", "pad": "y" * pad}), "pong"  # big but legal


class Progress:
    """Frames answered so far, across sockets; `warm` is set once WARM_UP of them were."""

    def __init__(self, total: int):
        self.done = 0
        self.threshold = total * WARM_UP
        self.warm = asyncio.Event()

    def add(self, count: int) -> None:
        self.done += count
        if self.done >= self.threshold:
            self.warm.set()


async def fuzz_socket(node: Node, people: People, i: int, share: int, rng: random.Random, progress: Progress) -> dict:
    stats = {"frames": 0, "errors": 0, "acks": 0, "closes": 0, "reconnects": 0}
    token = people.users[i]["token"]
    while stats["frames"] < share:
        async with websockets.connect(
            node.ws, additional_headers={"Authorization": f"Token {token}"}, max_size=None, ping_interval=None
        ) as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello"
            people.seen[i] = hello["last_event_id"]
            closed = False
            while stats["frames"] < share and not closed:
                batch = [generate(rng, people, i) for _ in range(min(BATCH, share - stats["frames"]))]
                expected = []
                for text, answer in batch:
                    stats["frames"] += 1
                    if answer == "close":
                        closed = True
                        with contextlib.suppress(websockets.ConnectionClosed):  # closed while it was sent
                            await ws.send(text)
                        break
                    await ws.send(text)
                    if answer != "silent":
                        expected.append((answer, text))
                if closed:
                    got = []
                    with pytest.raises(websockets.ConnectionClosed):
                        while True:
                            got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
                    assert ws.close_code == 1009, (ws.close_code, ws.close_reason)
                    answered = [f for f in got if f["type"] not in SKIP]
                    assert [f["type"] for f in answered] == [a for a, _ in expected], answered[-3:]
                    stats["closes"] += 1
                    stats["reconnects"] += 1
                    break
                await ws.send('{"type":"ping","ref":"end"}')
                answered = []
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if frame["type"] == "event":
                        people.seen[i] = max(people.seen.get(i, 0), frame["id"])
                    if frame["type"] in SKIP:
                        continue
                    if frame == {"type": "pong"} and len(answered) == len(expected):
                        break
                    answered.append(frame)
                for (answer, text), frame in zip(expected, answered, strict=True):
                    assert frame["type"] == answer, f"{text[:200]!r} -> {frame}"
                stats["errors"] += sum(1 for frame in answered if frame["type"] == "error")
                stats["acks"] += sum(1 for frame in answered if frame["type"] == "ack")
                progress.add(len(batch))
    return stats


async def test_a_flood_of_generated_frames_is_answered_and_leaves_the_node_as_it_was(node):
    # given: users in conversations, each with a socket
    people = People(node, SOCKETS)
    rng = random.Random(20261127)
    progress = Progress(FRAMES)
    share = FRAMES // SOCKETS + 1
    tasks = [
        asyncio.ensure_future(fuzz_socket(node, people, i, share, random.Random(rng.random()), progress))
        for i in range(SOCKETS)
    ]
    # when: the frames pour in; memory is read once warmed up, and at the end
    started = time.monotonic()
    finished = asyncio.ensure_future(asyncio.wait(tasks))
    await asyncio.wait([finished, asyncio.ensure_future(progress.warm.wait())], return_when=asyncio.FIRST_COMPLETED)
    warm = node.rss_kib()
    results = await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    await asyncio.sleep(1)
    end = node.rss_kib()
    # then
    total = {key: sum(r[key] for r in results) for key in results[0]}
    print(f"socket fuzz: {total} in {elapsed:.0f} s; node RSS {warm} KiB after warm-up, {end} KiB at the end")
    assert total["frames"] >= FRAMES
    assert total["errors"] > FRAMES * 0.8 and total["acks"] > 0 and total["closes"] > 0
    assert node.process.poll() is None, "the node died"
    log = node.log_tail(2000)
    assert "Traceback" not in log and "Exception inside application" not in log, log[-3000:]
    assert end <= warm * 1.10, f"node memory grew from {warm} KiB to {end} KiB"
    async with httpx.AsyncClient(base_url=node.http, timeout=10) as http:
        assert (await http.get("/healthz")).status_code == 200
        await asyncio.sleep(0.5)
        metrics = (await http.get("/metrics")).text
    gauge = [line for line in metrics.splitlines() if line.startswith("instaclone_ws_connections ")]
    assert gauge == ["instaclone_ws_connections 0.0"], gauge
