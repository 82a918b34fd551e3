"""Chat's socket actions, registered with the gateway (realtime.registry) by ChatConfig.

`message.send` and `message.read` do what the REST views do (the same statement or
services), so both doors accept and refuse alike; `typing` is an ephemeral frame to the
conversation's other participants. ORM work runs in the gateway's database threads
(`database_call`); the send, on PostgreSQL, on the event loop.
"""

import time

from chat import selectors, sending, services
from chat.models import CLIENT_ID_MAX
from chat.serializers import message_payload, read_payload
from core.throttling import athrottle_user_write
from realtime import events, pg
from realtime.db import database_call
from realtime.frames import Encoded, FrameError, int_field, str_field
from realtime.registry import frame_handler

# Typing comes in streams: a socket's membership lookups are kept this long.
MEMBERSHIP_TTL_SECONDS = 10.0
MEMBERSHIP_CACHE_MAX = 100


@frame_handler("message.send")
async def message_send(socket, frame: dict) -> Encoded | dict:
    """On PostgreSQL one statement on the event loop (chat/sending.py), shared with the sends
    that arrive meanwhile and committed before the ack; the events go out after it, each
    encoded once."""
    conversation = int_field(frame, "conversation")
    client_id = str_field(frame, "client_id", max_chars=CLIENT_ID_MAX)
    body = services.message_validate(body=frame.get("body"), client_id=client_id)
    # The REST send's throttle scope, shared: a socket is no way around it.
    athrottle_user_write(user_id=socket.uid, scope="message")
    if not pg.available():
        return await _send_orm(socket.user, conversation, body, client_id)
    item = sending.SendItem(sender_id=socket.uid, conversation_id=conversation, body=body, client_id=client_id)
    sent = sending.outcome(await sending.SENDS.submit(item), item, sender=socket.brief)
    data = Encoded(events.dumps(sent.data))
    if sent.created:
        events.announce("message.new", sent.assigned, data, committed=True)
    return data


@database_call
def _send_orm(user, conversation_id: int, body: str, client_id: str) -> dict:
    message, _created = services.message_send(
        sender=user, conversation_id=conversation_id, body=body, client_id=client_id
    )
    return message_payload(message)


@frame_handler("message.read")
async def message_read(socket, frame: dict) -> dict:
    conversation = int_field(frame, "conversation")
    message_id = int_field(frame, "message_id")
    return await _read(socket.user, conversation, message_id)


@database_call
def _read(user, conversation_id: int, message_id: int) -> dict:
    participant = services.conversation_mark_read(user=user, conversation_id=conversation_id, message_id=message_id)
    return dict(read_payload(conversation_id=conversation_id, user=user, message_id=participant.last_read_message_id))


@frame_handler("typing")
async def typing(socket, frame: dict) -> None:
    conversation = int_field(frame, "conversation")
    others = await _others_in(socket, conversation)
    if others is None:
        raise FrameError("not_found", "No such conversation.")
    socket.push(
        others, {"type": "typing", "data": {"conversation": conversation, "user": socket.brief}}, skip_self=True
    )


async def _others_in(socket, conversation_id: int) -> list[int] | None:
    """The conversation's other participants (None: not the socket user's), cached on the
    socket for MEMBERSHIP_TTL_SECONDS."""
    cache: dict = socket.state.setdefault("chat.membership", {})
    now = time.monotonic()
    cached = cache.get(conversation_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    others = await database_call(selectors.conversation_other_participant_ids)(
        user_id=socket.user_id, conversation_id=conversation_id
    )
    if len(cache) >= MEMBERSHIP_CACHE_MAX:
        cache.clear()
    cache[conversation_id] = (now + MEMBERSHIP_TTL_SECONDS, others)
    return others


def conversation_peers(user_id: int) -> list[int]:
    """Who hears this user's presence: everyone sharing a conversation with them."""
    return selectors.conversation_peer_ids(user_id=user_id)
