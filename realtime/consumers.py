"""The gateway: one websocket per client carries durable events, typing, presence and feed.

Delivery (DESIGN section 3): the socket joins its user's group first, then learns
`last_event_id` (or replays from `?after=`), then forwards live pushes. `last_sent` is the
newest durable id this socket has sent; a live push at or below it is a duplicate and is
dropped, one just above it is sent, and one further ahead means a publish went missing, so
the gap is filled from the log first. A periodic look at the log (WS_LOG_CHECK_SECONDS) finds
a lost publish that no later event exposes. Handlers run one at a time per consumer; the
periodic check runs beside them, so all durable delivery holds `self.delivery`.

Every ORM call goes through a `_`-prefixed `database_call` method (run in a small pool of
database threads, see `db_executor`), which closes stale connections itself; `dispatch`
therefore skips Channels' per-handler `aclose_old_connections()` thread hop, which would
otherwise cost a thread round trip for every relayed frame.
"""

import asyncio
import functools
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import Http404
from rest_framework import exceptions as drf_exceptions

from realtime import events, presence
from realtime.errors import _flatten
from realtime.metrics import WS_CLOSES, WS_CONNECTIONS, WS_EVENTS_OUT, WS_FRAMES_IN, WS_GAPS_FILLED
from realtime.publish import credential_group, user_group

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_RATE_LIMITED = 4429
CLOSE_TOO_BIG = 1009
CLOSE_UNAVAILABLE = 4503

REPLAY_BATCH = 500
MAX_ID = 2**63 - 1
MAX_REF_CHARS = 100
MEMBERSHIP_TTL_SECONDS = 10.0
PRESENCE_SEND_TIMEOUT = 2.0
FIRST_CHECK_SECONDS = 3.0

CLIENT_TYPES = ("resume", "message.send", "message.read", "typing", "ping")
# Channel-layer messages this consumer accepts; anything else on its groups is ignored.
LAYER_HANDLERS = frozenset(
    {
        "websocket_connect",
        "websocket_receive",
        "websocket_disconnect",
        "event_push",
        "feed_post",
        "gateway_typing",
        "gateway_presence",
        "auth_revoked",
    }
)
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def db_executor() -> ThreadPoolExecutor:
    """The gateway's database threads. Channels' default (`thread_sensitive`) runs every
    socket's ORM work of a process in ONE thread, so one slow commit stalls all sockets; a
    small pool lets sockets commit side by side. Each thread keeps its own connection, so
    a node holds at most WS_DB_THREADS of them for its sockets. Keep it small: the threads
    share the GIL with the event loop (see the setting)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            # SQLite takes one writer at a time: more threads would only queue on its lock.
            sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
            workers = 1 if sqlite else settings.WS_DB_THREADS
            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gateway-db")
        return _executor


def db_executor_shutdown() -> None:
    """Stops the database threads (their connections close as the threads end); the next
    database call starts a new pool. For tests and orderly shutdown."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is None:
        return
    # One task per thread (the barrier keeps any thread from taking two) closes its connections.
    workers = executor._max_workers
    barrier = threading.Barrier(workers)

    def close_mine():
        connections.close_all()
        try:
            barrier.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass

    for _ in range(workers):
        executor.submit(close_mine)
    executor.shutdown(wait=True)


def database_call(func):
    """Runs `func` in a gateway database thread, closing stale connections around it."""

    @functools.wraps(func)
    async def wrapper(*args, **kwargs):
        return await DatabaseSyncToAsync(func, thread_sensitive=False, executor=db_executor())(*args, **kwargs)

    return wrapper


class FrameError(Exception):
    """A client frame the gateway refuses; becomes an `error` frame, the socket stays open."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def error_frame(ref, code: str, detail: str) -> dict:
    return {"type": "error", "ref": ref, "code": code, "detail": detail}


def error_from_exception(exc: Exception) -> tuple[str, str]:
    """(code, detail) of an exception raised by a service, as the REST API would name it."""
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _flatten(exc.detail)
        name, messages = next(iter(fields.items()), ("non_field_errors", ["Invalid input."]))
        return "invalid", messages[0] if name == "non_field_errors" else f"{name}: {messages[0]}"
    if isinstance(exc, drf_exceptions.Throttled):
        return "throttled", str(exc.detail)
    if isinstance(exc, drf_exceptions.APIException):
        codes = exc.get_codes()
        return (codes if isinstance(codes, str) else exc.default_code), str(exc.detail)
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return "unavailable", "The database is unavailable; try again shortly."
    return "server_error", "The server could not handle this frame."


def int_field(frame: dict, name: str, *, minimum: int = 1) -> int:
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_ID:
        raise FrameError("invalid", f"{name}: must be an integer of at least {minimum}.")
    return value


def str_field(frame: dict, name: str, *, max_chars: int) -> str:
    value = frame.get(name)
    if not isinstance(value, str) or not value:
        raise FrameError("invalid", f"{name}: must be a non-empty string.")
    if len(value) > max_chars:
        raise FrameError("invalid", f"{name}: at most {max_chars} characters.")
    return value


def query_after(scope) -> int | None | str:
    """`?after=N` of the handshake: N, None when absent, or "invalid"."""
    from realtime.auth import query_param

    raw = query_param(scope, "after")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_ID:
        return "invalid"
    return int(raw)


class GatewayConsumer(AsyncWebsocketConsumer):
    """`/ws/`: see docs/websocket.md for the protocol."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = None
        self.user_id: int | None = None
        self.brief: dict | None = None
        self.last_sent: int | None = None
        self.delivery = asyncio.Lock()
        self.tokens = float(settings.WS_RATE_BURST)
        self.refilled = time.monotonic()
        self.closing = False
        self.registered = False
        self.unjoined: list[str] = []
        self.joined: list[str] = []
        self.tick_task: asyncio.Task | None = None
        self.membership: dict[int, tuple[float, list[int] | None]] = {}

    # Plumbing

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._stop_tick()

    async def dispatch(self, message):
        try:
            name = get_handler_name(message)
        except ValueError:
            log.warning("gateway: malformed layer message dropped")
            return
        if name not in LAYER_HANDLERS:
            log.warning("gateway: no handler for %r; dropped", message.get("type"))
            return
        await getattr(self, name)(message)

    async def send_frame(self, frame: dict) -> None:
        if not self.closing:
            await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def close_with(self, code: int) -> None:
        if self.closing:
            return
        self.closing = True
        WS_CLOSES.labels(code=str(code)).inc()
        await self.close(code)

    # Connection lifecycle

    async def websocket_connect(self, message):
        user = self.scope.get("user")
        if self.scope.get("auth_unavailable"):
            await self.accept()
            await self.send_frame(error_frame(None, "unavailable", "The database is unavailable; try again shortly."))
            await self.close_with(CLOSE_UNAVAILABLE)
            return
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close_with(CLOSE_UNAUTHENTICATED)
            return
        self.user, self.user_id = user, user.pk
        after = query_after(self.scope)

        # Subscribe before reading the log: whatever commits from here on reaches this
        # socket live or is found by the replay below.
        digest = self.scope.get("credential_digest")
        for group in [user_group(self.user_id)] + ([credential_group(digest)] if digest else []):
            await self._join(group)
        try:
            came_online, last_id, self.brief, peers = await self._open()
        except UNAVAILABLE_ERRORS:
            log.warning("gateway: database unavailable at connect")
            await self.accept()
            await self.send_frame(error_frame(None, "unavailable", "The database is unavailable; try again shortly."))
            await self.close_with(CLOSE_UNAVAILABLE)
            return
        await self.accept()
        self.registered = True
        WS_CONNECTIONS.inc()
        await self.send_frame({"type": "hello", "user": self.brief, "last_event_id": last_id})
        async with self.delivery:
            if after is None:
                self.last_sent = last_id
            elif after == "invalid":
                self.last_sent = last_id
                await self.send_frame(error_frame(None, "invalid", "after: must be a non-negative integer."))
            else:
                await self._resume(after, ref=None, fallback=last_id)
        self.tick_task = asyncio.ensure_future(self._tick_loop())
        if came_online:
            await self._announce(peers, online=True)

    async def websocket_disconnect(self, message):
        await self._stop_tick()
        for group in self.joined:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # noqa: BLE001 - the layer forgets dead channels anyway
                log.debug("gateway: group_discard failed", exc_info=True)
        if self.registered:
            self.registered = False
            WS_CONNECTIONS.dec()
            try:
                went_offline, peers = await self._close()
            except DatabaseError:
                log.warning("gateway: could not forget connection %s", self.channel_name, exc_info=True)
            else:
                if went_offline:
                    await self._announce(peers, online=False)
        await super().websocket_disconnect(message)

    async def _join(self, group: str) -> bool:
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception:  # noqa: BLE001 - the periodic log check delivers until it works
            log.warning("gateway: could not join %s; retrying on the next tick", group, exc_info=True)
            if group not in self.unjoined:
                self.unjoined.append(group)
            return False
        if group in self.unjoined:
            self.unjoined.remove(group)
        if group not in self.joined:
            self.joined.append(group)
        return True

    # Durable delivery

    async def _resume(self, after: int, *, ref, fallback: int | None = None) -> None:
        """Replays every event after `after`, then `resumed`. Holds `self.delivery`."""
        if not await self._can_resume(after):
            if self.last_sent is None:
                self.last_sent = fallback
            await self.send_frame(
                error_frame(ref, "resync_required", "Events after this id are no longer kept; refetch over REST and continue from hello's last_event_id.")
            )
            return
        self.last_sent = after
        await self._catch_up("replay")
        await self.send_frame({"type": "resumed", "last_event_id": self.last_sent})

    async def _catch_up(self, path: str) -> None:
        """Sends every logged event after `last_sent`, in order. Holds `self.delivery`."""
        while True:
            frames = await self._replay(self.last_sent)
            for frame in frames:
                if frame["id"] > self.last_sent:
                    await self.send_frame(frame)
                    self.last_sent = frame["id"]
                    WS_EVENTS_OUT.labels(path=path).inc()
            if len(frames) < REPLAY_BATCH:
                return

    async def event_push(self, message):
        frame = message.get("frame")
        seq = frame.get("id") if isinstance(frame, dict) else None
        if not isinstance(seq, int) or self.closing:
            return
        async with self.delivery:
            if self.last_sent is None or seq <= self.last_sent:
                return
            if seq == self.last_sent + 1:
                await self.send_frame(frame)
                self.last_sent = seq
                WS_EVENTS_OUT.labels(path="live").inc()
                return
            # A publish before this one went missing (or is late): the log has them all.
            WS_GAPS_FILLED.inc()
            try:
                await self._catch_up("gap")
            except DatabaseError:
                log.warning("gateway: gap fill failed; the periodic check will retry", exc_info=True)

    async def _tick_loop(self) -> None:
        interval = max(0.05, float(settings.WS_LOG_CHECK_SECONDS))
        # The first look comes early: Redis confirms a SUBSCRIBE asynchronously, so an event
        # published by another node in the instant after connect may have missed this socket.
        delay = min(interval, FIRST_CHECK_SECONDS)
        while True:
            # Jitter spreads the checks of many sockets over the interval.
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = interval
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failed check is retried on the next tick
                log.warning("gateway: periodic check failed", exc_info=True)

    async def _tick(self) -> None:
        if self.closing:
            return
        for group in list(self.unjoined):
            await self._join(group)
        latest, credential_ok = await self._touch()
        if not credential_ok:
            await self.close_with(CLOSE_UNAUTHENTICATED)
            return
        if self.last_sent is not None and latest > self.last_sent:
            async with self.delivery:
                if latest > self.last_sent:
                    WS_GAPS_FILLED.inc()
                    await self._catch_up("check")

    async def _stop_tick(self) -> None:
        task, self.tick_task = self.tick_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    # Client frames

    async def websocket_receive(self, message):
        if self.closing or self.user_id is None:
            return
        if not self._take_token():
            await self.close_with(CLOSE_RATE_LIMITED)
            return
        text = message.get("text")
        limit = settings.WS_MAX_FRAME_BYTES
        if text is None:
            if len(message.get("bytes") or b"") > limit:
                await self.close_with(CLOSE_TOO_BIG)
                return
            WS_FRAMES_IN.labels(type="invalid").inc()
            await self.send_frame(error_frame(None, "bad_frame", "Frames are JSON text; binary frames are not accepted."))
            return
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit):
            await self.close_with(CLOSE_TOO_BIG)
            return
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):
            frame = None
        if not isinstance(frame, dict):
            WS_FRAMES_IN.labels(type="invalid").inc()
            await self.send_frame(error_frame(None, "bad_frame", "A frame is a JSON object with a `type`."))
            return
        ref = frame.get("ref")
        if not (ref is None or (isinstance(ref, str) and len(ref) <= MAX_REF_CHARS) or (isinstance(ref, int) and not isinstance(ref, bool) and abs(ref) <= MAX_ID)):
            WS_FRAMES_IN.labels(type="invalid").inc()
            await self.send_frame(error_frame(None, "invalid", f"ref: a string of at most {MAX_REF_CHARS} characters or an integer."))
            return
        kind = frame.get("type")
        if kind not in CLIENT_TYPES:
            WS_FRAMES_IN.labels(type="invalid").inc()
            await self.send_frame(error_frame(ref, "unknown_type", "Unknown frame type; expected one of: " + ", ".join(CLIENT_TYPES) + "."))
            return
        WS_FRAMES_IN.labels(type=kind).inc()
        try:
            await self._handle_frame(kind, frame, ref)
        except FrameError as exc:
            await self.send_frame(error_frame(ref, exc.code, exc.detail))
        except Exception as exc:  # noqa: BLE001 - no bad frame kills the socket
            code, detail = error_from_exception(exc)
            if code == "server_error":
                log.exception("gateway: %s frame failed", kind)
            await self.send_frame(error_frame(ref, code, detail))

    def _take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(settings.WS_RATE_BURST), self.tokens + (now - self.refilled) * settings.WS_RATE_PER_SECOND)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def _handle_frame(self, kind: str, frame: dict, ref) -> None:
        if kind == "ping":
            await self.send_frame({"type": "pong"})
        elif kind == "message.send":
            from chat.models import BODY_MAX, CLIENT_ID_MAX

            conversation = int_field(frame, "conversation")
            body = frame.get("body")
            if not isinstance(body, str):
                raise FrameError("invalid", "body: must be a string.")
            if len(body) > BODY_MAX:
                raise FrameError("invalid", f"body: at most {BODY_MAX} characters.")
            client_id = str_field(frame, "client_id", max_chars=CLIENT_ID_MAX)
            data = await self._message_send(conversation, body, client_id)
            await self.send_frame({"type": "ack", "ref": ref, "data": data})
        elif kind == "message.read":
            conversation = int_field(frame, "conversation")
            message_id = int_field(frame, "message_id")
            data = await self._message_read(conversation, message_id)
            await self.send_frame({"type": "ack", "ref": ref, "data": data})
        elif kind == "typing":
            conversation = int_field(frame, "conversation")
            others = await self._others_in(conversation)
            if others is None:
                raise FrameError("not_found", "No such conversation.")
            relay = {"type": "gateway.typing", "data": {"conversation": conversation, "user": self.brief}}
            await self._group_send_all([user_group(uid) for uid in others], relay)
        elif kind == "resume":
            after = int_field(frame, "after", minimum=0)
            async with self.delivery:
                await self._resume(after, ref=ref)

    async def _others_in(self, conversation: int) -> list[int] | None:
        """Other participants of a conversation (cached briefly: typing comes in streams)."""
        now = time.monotonic()
        cached = self.membership.get(conversation)
        if cached is not None and cached[0] > now:
            return cached[1]
        others = await self._other_participants(conversation)
        if len(self.membership) > 100:
            self.membership.clear()
        self.membership[conversation] = (now + MEMBERSHIP_TTL_SECONDS, others)
        return others

    async def _group_send_all(self, groups: list[str], message: dict) -> None:
        if not groups:
            return
        results = await asyncio.gather(
            *(self.channel_layer.group_send(group, message) for group in groups), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.warning("gateway: %d of %d best-effort sends failed", len(failed), len(groups), exc_info=failed[0])

    async def _announce(self, peers: list[int], *, online: bool) -> None:
        """Best effort: tells the people sharing a conversation that this user came or went."""
        relay = {"type": "gateway.presence", "data": {"user": self.brief, "online": online}}
        try:
            await asyncio.wait_for(
                self._group_send_all([user_group(uid) for uid in peers], relay), timeout=PRESENCE_SEND_TIMEOUT
            )
        except TimeoutError:
            log.warning("gateway: presence announcement timed out")

    # Ephemeral relays from the channel layer (no ORM)

    async def gateway_typing(self, message):
        data = message.get("data") or {}
        if (data.get("user") or {}).get("id") != self.user_id:
            await self.send_frame({"type": "typing", "data": data})

    async def gateway_presence(self, message):
        await self.send_frame({"type": "presence", "data": message.get("data")})

    async def feed_post(self, message):
        await self.send_frame({"type": "feed.post", "data": message.get("data")})

    async def auth_revoked(self, message):
        await self.close_with(CLOSE_UNAUTHENTICATED)

    # Database work, each in one worker-thread hop

    @database_call
    def _open(self) -> tuple[bool, int, dict, list[int]]:
        from accounts.serializers import user_brief

        came_online = presence.connection_open(
            channel_name=self.channel_name, user_id=self.user_id, **self._credential_columns()
        )
        peers = presence.conversation_peer_ids(user_id=self.user_id) if came_online else []
        return came_online, events.last_event_id(user_id=self.user_id), dict(user_brief(self.user)), peers

    @database_call
    def _close(self) -> tuple[bool, list[int]]:
        went_offline = presence.connection_close(channel_name=self.channel_name, user_id=self.user_id)
        return went_offline, presence.conversation_peer_ids(user_id=self.user_id) if went_offline else []

    @database_call
    def _touch(self) -> tuple[int, bool]:
        from realtime.auth import credential_still_valid

        presence.connection_touch(channel_name=self.channel_name, user_id=self.user_id, **self._credential_columns())
        valid = credential_still_valid(
            kind=self.scope.get("credential_kind", ""),
            digest=self.scope.get("credential_digest", ""),
            session_key=self.scope.get("session_key"),
            user_id=self.user_id,
        )
        return events.last_event_id(user_id=self.user_id), valid

    def _credential_columns(self) -> dict:
        digest = self.scope.get("credential_digest", "")
        if self.scope.get("credential_kind") == "session":
            return {"session_key": digest}
        return {"token_digest": digest}

    @database_call
    def _can_resume(self, after: int) -> bool:
        return events.can_resume(user_id=self.user_id, after=after)

    @database_call
    def _replay(self, after: int) -> list[dict]:
        return events.replay(user_id=self.user_id, after=after, limit=REPLAY_BATCH)

    @database_call
    def _message_send(self, conversation: int, body: str, client_id: str) -> dict:
        from chat.serializers import message_payload
        from chat.services import message_send
        from realtime.throttling import throttle_user_write

        # The REST send's throttle scope, shared: a socket is no way around it.
        throttle_user_write(user=self.user, scope="message")
        message, _created = message_send(sender=self.user, conversation_id=conversation, body=body, client_id=client_id)
        return message_payload(message)

    @database_call
    def _message_read(self, conversation: int, message_id: int) -> dict:
        from chat.serializers import read_payload
        from chat.services import conversation_mark_read

        participant = conversation_mark_read(user=self.user, conversation_id=conversation, message_id=message_id)
        return dict(read_payload(conversation_id=conversation, user=self.user, message_id=participant.last_read_message_id))

    @database_call
    def _other_participants(self, conversation: int) -> list[int] | None:
        return presence.conversation_other_participant_ids(user_id=self.user_id, conversation_id=conversation)
