"""A small Instaclone websocket client: reconnects with exponential backoff and jitter, and
resumes so that every durable event arrives once, in order (docs/websocket.md).

    client = InstacloneClient(["ws://localhost:8000/ws/"], token="...")
    await client.start()                      # connected, `hello` received
    ack = await client.send_message(7, "hi")  # retried across reconnects, same client_id
    event = await client.next_event()         # {"type": "event", "id": ..., "event": ..., "data": ...}
    await client.close()

Several URLs (nodes behind no load balancer, say) are tried in turn on each reconnect.
Needs the `websockets` package (>= 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

log = logging.getLogger("instaclone_client")

CLOSE_UNAUTHENTICATED = 4401
# The account holds WS_MAX_SOCKETS_PER_USER sockets already: the reconnect backoff (not
# reset, since no hello came) spaces the retries out until one of them closes.
CLOSE_TOO_MANY_SOCKETS = 4409


class ServerError(Exception):
    """An `error` frame answering one of our frames."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class AuthenticationFailed(Exception):
    """The server closed with 4401: the token is wrong or was revoked. No retry helps."""


def backoff_delays(base: float, cap: float, rng: random.Random):
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n))."""
    for attempt in itertools.count():
        yield rng.uniform(0, min(cap, base * (2 ** min(attempt, 30))))


def with_query(url: str, **params) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode({k: v for k, v in params.items() if v is not None})]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class InstacloneClient:
    """One logical connection to the gateway, kept open across drops.

    `last_event_id` is the newest durable event handed to the application; a reconnect
    asks for everything after it (`?after=`), and any id at or below it is dropped, so the
    application sees each event once and in order. On `resync_required` (the events were
    pruned) `on_resync` is called: refetch state over REST; delivery continues from the
    server's current position.
    """

    def __init__(
        self,
        urls: Sequence[str] | str,
        *,
        token: str,
        after: int | None = None,
        backoff_base: float = 0.2,
        backoff_cap: float = 10.0,
        on_frame: Callable[[dict], None] | None = None,
        on_resync: Callable[[int], None] | None = None,
        rng: random.Random | None = None,
        open_timeout: float = 5.0,
    ):
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.token = token
        self.last_event_id = after
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.on_frame = on_frame
        self.on_resync = on_resync
        self.rng = rng or random.Random()
        self.open_timeout = open_timeout
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self.user: dict | None = None
        self.connections = 0
        self.connected_url: str | None = None
        self._pending: dict[str, tuple[dict, asyncio.Future]] = {}
        self._refs = itertools.count(1)
        self._ws = None
        self._ready = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task | None = None
        self._failure: BaseException | None = None
        self._hello_last = 0
        self._current_url: str | None = None
        self._greeted = False

    # Lifecycle

    async def start(self, wait: float = 10.0) -> None:
        """Starts the connection loop and waits for the first `hello`."""
        self._task = asyncio.create_task(self._run())
        await self.wait_connected(wait)

    async def wait_connected(self, wait: float = 10.0) -> None:
        waiter = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait({waiter, self._task}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            if self._task in done and self._task.exception() is not None:
                raise self._task.exception()
            raise TimeoutError("not connected")

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for _frame, future in self._pending.values():
            if not future.done():
                future.cancel()

    async def drop(self) -> None:
        """Closes the current socket as a network failure would; the loop reconnects."""
        if self._ws is not None:
            await self._ws.close(code=1001)

    async def _run(self) -> None:
        delays = backoff_delays(self.backoff_base, self.backoff_cap, self.rng)
        for url in itertools.cycle(self.urls):
            if self._closed:
                return
            self._greeted = False
            try:
                await self._session(url)
            except AuthenticationFailed as exc:
                self._failure = exc
                raise
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
                log.info("connection to %s failed: %r", url, exc)
            except Exception:  # noqa: BLE001 - a bad frame or a bug: reconnect rather than die
                log.exception("connection to %s broke", url)
            if self._greeted:
                # A session that got as far as hello resets the backoff.
                delays = backoff_delays(self.backoff_base, self.backoff_cap, self.rng)
            self._ready.clear()
            self._ws = None
            if self._closed:
                return
            await asyncio.sleep(next(delays))

    async def _session(self, url: str) -> None:
        target = with_query(url, after=self.last_event_id)
        self._current_url = url
        async with websockets.connect(
            target,
            additional_headers={"Authorization": f"Token {self.token}"},
            open_timeout=self.open_timeout,
            max_size=2**24,
        ) as ws:
            self._ws = ws
            resuming = self.last_event_id is not None
            try:
                async for text in ws:
                    self._handle(json.loads(text), ws, resuming=resuming)
            except ConnectionClosed:
                pass
            if ws.close_code == CLOSE_UNAUTHENTICATED:
                raise AuthenticationFailed("the server closed with 4401")
            if ws.close_code == CLOSE_TOO_MANY_SOCKETS:
                log.warning("%s: too many sockets open for this account; retrying later", url)
            else:
                log.info("connection to %s closed (%s)", url, ws.close_code)

    def _handle(self, frame: dict, ws, *, resuming: bool) -> None:
        kind = frame.get("type")
        if kind == "hello":
            self.user = frame["user"]
            self.connections += 1
            self._greeted = True
            self.connected_url = self._current_url
            self._hello_last = frame["last_event_id"]
            if not resuming:
                self.last_event_id = frame["last_event_id"]
                self._on_ready(ws)
        elif kind == "event":
            if self.last_event_id is None or frame["id"] > self.last_event_id:
                self.last_event_id = frame["id"]
                self.events.put_nowait(frame)
        elif kind == "resumed":
            self._on_ready(ws)
        elif kind == "error" and frame.get("code") == "resync_required" and frame.get("ref") is None:
            self.last_event_id = self._hello_last
            if self.on_resync is not None:
                self.on_resync(self._hello_last)
            self._on_ready(ws)
        elif kind in ("ack", "error") and frame.get("ref") in self._pending:
            _sent, future = self._pending.pop(frame["ref"])
            if not future.done():
                if kind == "ack":
                    future.set_result(frame["data"])
                else:
                    future.set_exception(ServerError(frame["code"], frame["detail"]))
        if self.on_frame is not None:
            self.on_frame(frame)

    def _on_ready(self, ws) -> None:
        self._ready.set()
        # Frames not yet answered go again: sends are idempotent by client_id, reads by nature.
        for sent, _future in list(self._pending.values()):
            asyncio.ensure_future(self._send_quietly(ws, sent))

    @staticmethod
    async def _send_quietly(ws, frame: dict) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(frame))

    # Requests

    async def request(self, frame: dict, wait: float = 30.0) -> dict:
        """Sends a frame with a fresh `ref` and waits for its ack (across reconnects)."""
        ref = f"r{next(self._refs)}"
        frame = {**frame, "ref": ref}
        future = asyncio.get_running_loop().create_future()
        self._pending[ref] = (frame, future)
        if self._ready.is_set() and self._ws is not None:
            await self._send_quietly(self._ws, frame)
        try:
            return await asyncio.wait_for(future, wait)
        finally:
            self._pending.pop(ref, None)

    async def send_message(
        self, conversation: int, body: str, *, client_id: str | None = None, wait: float = 30.0
    ) -> dict:
        frame = {
            "type": "message.send",
            "conversation": conversation,
            "body": body,
            "client_id": client_id or str(uuid.uuid4()),
        }
        return await self.request(frame, wait)

    async def mark_read(self, conversation: int, message_id: int, wait: float = 30.0) -> dict:
        return await self.request(
            {"type": "message.read", "conversation": conversation, "message_id": message_id}, wait
        )

    async def typing(self, conversation: int) -> None:
        if self._ws is not None:
            await self._send_quietly(self._ws, {"type": "typing", "conversation": conversation})

    async def next_event(self, wait: float = 10.0) -> dict:
        return await asyncio.wait_for(self.events.get(), wait)

    async def collect_events(self, count: int, wait: float = 10.0) -> list[dict]:
        """The next `count` durable events (waits at most `wait` seconds in all)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        got = []
        while len(got) < count:
            got.append(await asyncio.wait_for(self.events.get(), max(0.001, deadline - loop.time())))
        return got


async def _main() -> None:  # pragma: no cover - a manual tool
    import argparse

    parser = argparse.ArgumentParser(description="Print every frame of an Instaclone socket.")
    parser.add_argument("url", nargs="+", help="ws://host:port/ws/ (several: tried in turn)")
    parser.add_argument("--token", required=True)
    parser.add_argument("--after", type=int, default=None)
    args = parser.parse_args()
    client = InstacloneClient(args.url, token=args.token, after=args.after, on_frame=lambda f: print(json.dumps(f)))
    await client.start()
    await asyncio.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main())
