"""The gateway: one websocket per client carries durable events, typing, presence and feed.

Delivery (docs/websocket.md, "Delivery guarantees"): the socket joins its user's group first,
then learns `last_event_id` (or replays from `?after=`), then forwards live pushes.
`last_sent` is the newest durable id this socket has sent; a live push at or below it is a
duplicate and is dropped, one just above it is sent, and one further ahead means a publish
went missing, so the gap is filled from the log first. The node's hub (realtime.hub) looks at
the log for every socket once per WS_LOG_CHECK_SECONDS and so finds a lost publish that no
later event exposes. Handlers run one at a time per consumer; the hub's catch-ups run beside
them, so all durable delivery holds `self.delivery`.

Client frames other than `resume` and `ping` go to the handlers the domain apps register
(realtime.registry); ephemeral frames from the channel layer (`gateway.frame`) and durable
pushes (`event.push`) arrive as finished text and are forwarded as they are.

Nothing on the way waits on Redis for long: group joins give up after JOIN_TIMEOUT (the hub
retries them, and the log delivers meanwhile), the socket's place among its user's
WS_MAX_SOCKETS_PER_USER (one Redis script at the handshake, realtime.presence) falls back to
a per-process count when Redis is away or slower than its short timeout, and publishes
never wait. ORM work runs in the gateway's database threads (realtime.db), whose
calls close stale connections themselves; `dispatch` therefore skips Channels'
per-handler `aclose_old_connections()` thread hop.
"""

import asyncio
import json
import logging
import time

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from core.errors import UNAVAILABLE_DETAIL, UNAVAILABLE_ERRORS
from core.ids import parse_id
from core.metrics import DELIVERY_LATENCY, WS_CLOSES, WS_CONNECTIONS, WS_EVENTS_OUT, WS_FRAMES_IN, WS_GAPS_FILLED
from realtime import events, presence, registry
from realtime.auth import query_param
from realtime.db import database_call
from realtime.frames import MAX_REF_CHARS, Encoded, error_frame, error_from_exception, int_field, valid_ref
from realtime.hub import hub
from realtime.publish import credential_group, frame_message, publish, user_group

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_RATE_LIMITED = 4429
CLOSE_TOO_BIG = 1009
CLOSE_UNAVAILABLE = 4503
CLOSE_TOO_MANY_SOCKETS = 4409

REPLAY_BATCH = 500
JOIN_TIMEOUT = 2.0

# Channel-layer messages this consumer accepts; anything else on its groups is ignored.
LAYER_HANDLERS = frozenset(
    {"websocket_connect", "websocket_receive", "websocket_disconnect", "event_push", "gateway_frame", "auth_revoked"}
)


def dumps(frame) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def query_after(scope) -> tuple[int | None, bool]:
    """`?after=N` of the handshake: (N or None when absent, whether it was well formed)."""
    raw = query_param(scope, "after")
    if raw is None:
        return None, True
    after = parse_id(raw, minimum=0)
    return after, after is not None


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
        self.checking = False  # a check_log is waiting or running
        self.forgotten = False  # _forget ran: nothing may be joined or recorded any more
        self.registered = False
        self.online = False
        self.came_online = False
        self.unjoined: list[str] = []
        self.joined: list[str] = []
        # What frame handlers keep per socket, under keys they own ("chat.membership").
        self.state: dict = {}

    # Plumbing

    @property
    def uid(self) -> int:
        """The user's id, for code that runs only on an authenticated socket."""
        if self.user_id is None:
            raise RuntimeError("the socket has no user")
        return self.user_id

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Whatever ended the socket (a close, a send on a closed protocol, a cancel),
            # it leaves nothing behind.
            await self._forget()

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
        await self.send_text(dumps(frame))

    async def send_text(self, text: str) -> None:
        if self.closing:
            return
        try:
            await self.send(text_data=text)
        except Exception:  # noqa: BLE001 - the peer is gone; see _lost
            await self._lost()

    async def close_with(self, code: int) -> None:
        if self.closing:
            return
        self.closing = True
        WS_CLOSES.labels(code=str(code)).inc()
        try:
            await self.close(code)
        except Exception:  # noqa: BLE001 - the peer is gone; see _lost
            await self._lost()

    async def _lost(self) -> None:
        """A send raised: the connection closed while frames were still going out (autobahn's
        "Attempt to send on a closed protocol" between the peer's close frame and daphne's
        disconnect). Nothing more is sent, and the socket is forgotten now; the disconnect
        that follows finds nothing left to do."""
        log.debug("gateway: send on a closed socket", exc_info=True)
        self.closing = True
        await self._forget()

    # Connection lifecycle

    async def websocket_connect(self, message):
        user = self.scope.get("user")
        if self.scope.get("auth_unavailable"):
            await self._refuse_unavailable()
            return
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close_with(CLOSE_UNAUTHENTICATED)
            return
        self.user, self.user_id = user, user.pk
        if not await self._admit():
            return
        after, after_ok = query_after(self.scope)

        # Subscribe before reading the log: whatever commits from here on reaches this
        # socket live or is found by the replay below.
        digest = self.scope.get("credential_digest")
        for group in [user_group(self.uid)] + ([credential_group(digest)] if digest else []):
            await self._join(group)
        try:
            last_id = await events.LAST_IDS.submit(self.uid) or 0
        except UNAVAILABLE_ERRORS:
            log.warning("gateway: database unavailable at connect")
            await self._refuse_unavailable()
            return
        self.brief = registry.user_brief(self.user)
        await self.accept()
        self.registered = True
        WS_CONNECTIONS.inc()
        await self.send_frame({"type": "hello", "user": self.brief, "last_event_id": last_id})
        async with self.delivery:
            if not after_ok:
                self.last_sent = last_id
                await self.send_frame(error_frame(None, "invalid", "after: must be a non-negative integer."))
            elif after is None:
                self.last_sent = last_id
            else:
                await self._resume(after, ref=None, fallback=last_id)
        if self.forgotten:  # a send failed on the way: the peer left during the greeting
            return
        hub().add(self)
        if self.came_online:
            asyncio.ensure_future(self._announce(online=True))

    async def _admit(self) -> bool:
        """Takes one of the user's WS_MAX_SOCKETS_PER_USER places (realtime.presence, across
        every node), or refuses the socket: an `error` frame `too_many_sockets`, then 4409."""
        admitted, self.came_online = await presence.admit(
            user_id=self.uid, channel=self.channel_name, limit=settings.WS_MAX_SOCKETS_PER_USER
        )
        if admitted:
            self.online = True
            return True
        await self.accept()
        detail = f"At most {settings.WS_MAX_SOCKETS_PER_USER} sockets per account are open at once; close one first."
        await self.send_frame(error_frame(None, "too_many_sockets", detail))
        await self.close_with(CLOSE_TOO_MANY_SOCKETS)
        return False

    async def _refuse_unavailable(self) -> None:
        await self.accept()
        await self.send_frame(error_frame(None, "unavailable", UNAVAILABLE_DETAIL))
        await self.close_with(CLOSE_UNAVAILABLE)

    async def websocket_disconnect(self, message):
        await self._forget()
        await super().websocket_disconnect(message)

    async def _forget(self) -> None:
        """Leaves the hub, the open-sockets gauge, presence and the groups; once, whichever
        way the socket ended (a disconnect, a send that raised, a cancel). What needs no
        waiting is done first, so a cancel while the groups are left cannot skip it."""
        if self.user_id is None:
            return
        self.closing = True
        self.forgotten = True
        hub().remove(self)
        if self.registered:
            self.registered = False
            WS_CONNECTIONS.dec()
        if self.online:
            # The socket's place among the user's sockets (and its presence) goes now.
            self.online = False
            asyncio.ensure_future(self._go_offline())
        joined, self.joined, self.unjoined = self.joined, [], []
        for group in joined:
            await self._leave(group)

    async def _leave(self, group: str) -> None:
        try:
            await asyncio.wait_for(self.channel_layer.group_discard(group, self.channel_name), JOIN_TIMEOUT)
        except Exception:  # noqa: BLE001 - the layer forgets dead channels anyway
            log.debug("gateway: group_discard failed", exc_info=True)

    async def _go_offline(self) -> None:
        if await presence.closed(user_id=self.uid, channel=self.channel_name):
            await self._announce(online=False)

    async def _join(self, group: str) -> bool:
        if self.forgotten:
            return False
        try:
            await asyncio.wait_for(self.channel_layer.group_add(group, self.channel_name), JOIN_TIMEOUT)
            if self.forgotten:  # the socket ended while the join was on its way: undo it
                await self._leave(group)
                return False
        except Exception:  # noqa: BLE001 - the hub retries, and the log delivers until then
            if self.forgotten:  # the layer refuses a channel that is gone; nothing to retry
                return False
            log.warning("gateway: could not join %s; retrying on the next check", group, exc_info=True)
            if group not in self.unjoined:
                self.unjoined.append(group)
            return False
        if group in self.unjoined:
            self.unjoined.remove(group)
        if group not in self.joined:
            self.joined.append(group)
        return True

    async def rejoin(self) -> None:
        """Retries the groups a join failed for (the hub's check)."""
        for group in list(self.unjoined):
            await self._join(group)

    async def revoked(self) -> None:
        await self.close_with(CLOSE_UNAUTHENTICATED)

    # Durable delivery

    async def _resume(self, after: int, *, ref, fallback: int | None = None) -> None:
        """Replays every event after `after`, then `resumed`. Holds `self.delivery`."""
        if not await self._can_resume(after):
            if self.last_sent is None:
                self.last_sent = fallback
            await self.send_frame(
                error_frame(
                    ref,
                    "resync_required",
                    "Events after this id are no longer kept; refetch over REST and continue from hello's last_event_id.",
                )
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

    async def check_log(self) -> None:
        """The hub saw newer events in the log than this socket sent: a publish was lost.
        One at a time: while the channel layer has trouble the hub looks every second, and a
        check still waiting for `delivery` will send whatever the next one would."""
        if self.closing or self.checking:
            return
        self.checking = True
        try:
            async with self.delivery:
                WS_GAPS_FILLED.inc()
                try:
                    await self._catch_up("check")
                except DatabaseError:
                    log.warning("gateway: log check failed; the next check retries", exc_info=True)
        finally:
            self.checking = False

    async def event_push(self, message):
        seq, text = message.get("id"), message.get("text")
        if not isinstance(seq, int) or not isinstance(text, str) or self.closing:
            return
        async with self.delivery:
            if self.last_sent is None or seq <= self.last_sent:
                return
            if seq == self.last_sent + 1:
                await self.send_text(text)
                self.last_sent = seq
                WS_EVENTS_OUT.labels(path="live").inc()
                committed = message.get("t")
                if isinstance(committed, float):
                    DELIVERY_LATENCY.observe(max(0.0, time.time() - committed))
                return
            # A publish before this one went missing (or is late): the log has them all.
            WS_GAPS_FILLED.inc()
            try:
                await self._catch_up("gap")
            except DatabaseError:
                log.warning("gateway: gap fill failed; the next check retries", exc_info=True)

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
            await self.send_frame(
                error_frame(None, "bad_frame", "Frames are JSON text; binary frames are not accepted.")
            )
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
        if not valid_ref(ref):
            WS_FRAMES_IN.labels(type="invalid").inc()
            await self.send_frame(
                error_frame(None, "invalid", f"ref: a string of at most {MAX_REF_CHARS} characters or an integer.")
            )
            return
        kind = frame.get("type")
        handler = self._frame_handler(kind)
        if handler is None:
            WS_FRAMES_IN.labels(type="invalid").inc()
            expected = ", ".join(registry.client_frame_types())
            await self.send_frame(error_frame(ref, "unknown_type", f"Unknown frame type; expected one of: {expected}."))
            return
        WS_FRAMES_IN.labels(type=kind).inc()
        try:
            data = await handler(self, frame)
            if isinstance(data, Encoded):
                await self.send_text(f'{{"type":"ack","ref":{dumps(ref)},"data":{data}}}')
            elif data is not None:
                await self.send_frame({"type": "ack", "ref": ref, "data": data})
        except Exception as exc:  # noqa: BLE001 - no bad frame kills the socket
            code, detail = error_from_exception(exc)
            if code == "server_error":
                log.exception("gateway: %s frame failed", kind)
            await self.send_frame(error_frame(ref, code, detail))

    def _take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(
            float(settings.WS_RATE_BURST), self.tokens + (now - self.refilled) * settings.WS_RATE_PER_SECOND
        )
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def _frame_handler(self, kind):
        if kind == "ping":
            return self._ping
        if kind == "resume":
            return self._resume_frame
        return registry.frame_handlers().get(kind) if isinstance(kind, str) else None

    @staticmethod
    async def _ping(socket, frame: dict) -> None:
        await socket.send_text('{"type":"pong"}')

    @staticmethod
    async def _resume_frame(socket, frame: dict) -> None:
        after = int_field(frame, "after", minimum=0)
        async with socket.delivery:
            await socket._resume(after, ref=frame.get("ref"))

    def push(self, user_ids: list[int], frame: dict, *, skip_self: bool = False) -> None:
        """Best effort, without waiting: an ephemeral frame to every socket of these users
        (for frame handlers: `typing`)."""
        if user_ids:
            message = frame_message(frame, skip_user=self.user_id if skip_self else None)
            publish([(user_group(uid), message) for uid in user_ids])

    async def _announce(self, *, online: bool) -> None:
        """Best effort: tells the people sharing a conversation that this user came or went."""
        try:
            peers = await self._peers()
        except DatabaseError:
            log.warning("gateway: presence peers unavailable", exc_info=True)
            return
        self.push(peers, {"type": "presence", "data": {"user": self.brief, "online": online}})

    # Ephemeral frames from the channel layer (no ORM)

    async def gateway_frame(self, message):
        frame = message.get("frame")
        if isinstance(frame, dict) and message.get("skip_user") != self.user_id:
            await self.send_frame(frame)

    async def auth_revoked(self, message):
        await self.close_with(CLOSE_UNAUTHENTICATED)

    # Database work, each in one worker-thread hop

    @database_call
    def _peers(self) -> list[int]:
        return registry.peers_of(self.uid)

    @database_call
    def _can_resume(self, after: int) -> bool:
        return events.can_resume(user_id=self.uid, after=after)

    @database_call
    def _replay(self, after: int) -> list[dict]:
        return events.replay(user_id=self.uid, after=after, limit=REPLAY_BATCH)
