"""The node's care of its own sockets: one task per process, batched, so an idle socket costs
the database nothing of its own.

Three things must happen to every open socket now and then, and used to happen per socket
(three queries each every WS_LOG_CHECK_SECONDS: 10,000 idle sockets made 1,000 queries a
second). The hub does them for all of its sockets at once, once per interval:
- the log check: one query reads the newest event id of every user with a socket here; a
  socket that is behind lost a publish, and catches up from the log;
- the credential check: one query for the tokens, one for the sessions; a socket whose
  credential was revoked (a logout whose `auth.revoked` publish was lost) closes with 4401;
- presence: one Redis pipeline marks every socket alive for another TTL.
On each sweep it also hands the heap's freed memory back to the system (core.memory): a
node churning through sockets otherwise keeps growing its RSS with fragmentation.
A new socket gets its first check early (FIRST_CHECK_SECONDS): Redis confirms a SUBSCRIBE
asynchronously, so an event published elsewhere in the instant after connect may have
missed it. A socket whose group joins failed retries them on each tick.

While the channel layer has trouble (a publish failed, the subscription connection was lost
or has just come back: a Redis outage, a failover) and for WATCH_SECONDS after, every tick
also looks at the log for every socket (one query) and retries failed group joins: what was
published meanwhile, by any node, reached no socket here, and a quiet socket would otherwise
wait for the next periodic check (WS_LOG_CHECK_SECONDS, 30 s by default) to get it.
WATCH_SECONDS also covers the other nodes, whose publishes may fail a little longer than
this node's subscription. Credentials and presence keep to the periodic check.
"""

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING

from channels.layers import get_channel_layer
from django.conf import settings

from core.memory import release_freed_memory
from realtime import events, presence
from realtime.auth import invalid_credentials
from realtime.db import database_call

if TYPE_CHECKING:  # the consumer registers itself here; typing only
    from realtime.consumers import GatewayConsumer

log = logging.getLogger(__name__)

FIRST_CHECK_SECONDS = 3.0
WATCH_SECONDS = 10.0


class Hub:
    def __init__(self):
        self.sockets: set[GatewayConsumer] = set()
        self.fresh: dict[GatewayConsumer, float] = {}  # socket -> when its first check is due
        self.task: asyncio.Task | None = None
        self.next_sweep = 0.0
        # While the layer has trouble: socket -> its user's newest event id at the last tick.
        self.watched: dict[GatewayConsumer, int] = {}

    def add(self, socket: "GatewayConsumer") -> None:
        self.sockets.add(socket)
        self.fresh[socket] = time.monotonic() + min(FIRST_CHECK_SECONDS, self.interval)
        if self.task is None or self.task.done():
            self.next_sweep = time.monotonic() + self.interval * random.uniform(0.8, 1.2)
            self.task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, socket: "GatewayConsumer") -> None:
        self.sockets.discard(socket)
        self.fresh.pop(socket, None)
        self.watched.pop(socket, None)

    @property
    def interval(self) -> float:
        return max(0.05, float(settings.WS_LOG_CHECK_SECONDS))

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(min(1.0, self.interval / 2))
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failed check is retried on the next tick
                log.warning("gateway hub: check failed", exc_info=True)

    async def tick(self) -> None:
        now = time.monotonic()
        due = [socket for socket, at in self.fresh.items() if at <= now]
        for socket in due:
            del self.fresh[socket]
        sweep = now >= self.next_sweep
        if sweep:
            self.next_sweep = now + self.interval
            due = list(self.sockets)
            release_freed_memory()
        elif _layer_troubled_within(WATCH_SECONDS, now):
            await self._watch(exclude=set(due))
        else:
            self.watched.clear()
        due = [socket for socket in due if not socket.closing and socket.user_id is not None]
        if not due:
            return
        # Sockets that close during the awaits are left out: a refresh would bring a closed
        # socket's presence back until it expired.
        due = await self._rejoined(due)
        if sweep and due:
            await presence.refresh(sockets=[(socket.uid, socket.channel_name) for socket in due])
        if not due:
            return
        latest, invalid = await _look(due)
        due = [socket for socket in due if socket in self.sockets]
        for socket in due:
            if id(socket) in invalid:
                await socket.revoked()
            elif latest.get(socket.uid, 0) > (socket.last_sent or 0):
                asyncio.ensure_future(socket.check_log())

    async def _rejoined(self, sockets: list["GatewayConsumer"]) -> list["GatewayConsumer"]:
        """Retries the sockets' failed group joins; returns those still open after."""
        for socket in sockets:
            await socket.rejoin()
        return [socket for socket in sockets if socket in self.sockets]

    async def _watch(self, *, exclude: set) -> None:
        """The channel layer had trouble: failed joins again, and every socket's log (one
        query); a socket still without an event that was in the log at the previous tick
        catches up. The sockets in `exclude` get the full check of this tick anyway."""
        sockets = [s for s in self.sockets if s not in exclude and not s.closing and s.user_id is not None]
        sockets = await self._rejoined(sockets)
        if not sockets:
            return
        latest = await events.alatest_ids(list({socket.uid for socket in sockets}))
        for socket in sockets:
            if socket not in self.sockets:  # closed during the query: nothing to keep of it
                continue
            # An event in the log a tick ago that has still not reached the socket was lost; a
            # newer one may only be on its way (live delivery works again after an outage).
            seen, self.watched[socket] = self.watched.get(socket), latest.get(socket.uid, 0)
            if seen is not None and (socket.last_sent or 0) < seen:
                asyncio.ensure_future(socket.check_log())


def _layer_troubled_within(seconds: float, now: float) -> bool:
    last_trouble = getattr(get_channel_layer(), "last_trouble", None)
    if last_trouble is None:  # a layer that never loses a publish (in memory)
        return False
    at = last_trouble()
    return at is not None and now - at < seconds


@database_call
def _look(sockets: list["GatewayConsumer"]) -> tuple[dict[int, int], set[int]]:
    """The newest event id of each socket's user, and the sockets (by `id()`) whose
    credential no longer stands: three queries for any number of sockets."""
    latest = events.latest_ids(user_ids={socket.uid for socket in sockets})
    invalid = invalid_credentials([(id(socket), socket.scope, socket.uid) for socket in sockets])
    return latest, invalid


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """The hub of the running event loop (a daphne process has one)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        for old in [old for old in _hubs if old.is_closed()]:
            del _hubs[old]
        found = _hubs[loop] = Hub()
    return found
