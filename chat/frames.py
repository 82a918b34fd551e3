"""Chat's socket actions, registered with the gateway (realtime.registry) by ChatConfig.

`message.send`, `message.read` and `message.react` do what the REST views do (the same
statement or services), so both doors accept and refuse alike; `typing` is an ephemeral
frame to the conversation's other participants who may hear it (accepted, no block). ORM
work runs in the gateway's database threads (`database_call`); the send and the typing
lookup, on PostgreSQL, on the event loop.
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

# Typing comes in streams (browsers send one every 2.5 s while typing): a socket relays at
# most one per conversation in this interval (a send in it starts a new stream) and drops
# the rest unanswered. Each relay asks
# the database who may hear it (one statement), so a block, a leave or a request applies
# to the very next one; nothing is cached.
TYPING_INTERVAL_SECONDS = 2.0
TYPING_STATE_MAX = 100


@frame_handler("message.send")
async def message_send(socket, frame: dict) -> Encoded | dict:
    """On PostgreSQL one statement on the event loop (chat/sending.py), shared with the sends
    that arrive meanwhile and committed before the ack; the events go out after it, each
    encoded once."""
    conversation = int_field(frame, "conversation")
    client_id = str_field(frame, "client_id", max_chars=CLIENT_ID_MAX)
    body = services.message_validate(body=frame.get("body"), client_id=client_id)
    reply_to = services.reply_validate(frame.get("reply_to"))
    # The REST send's throttle scope, shared: a socket is no way around it.
    athrottle_user_write(user_id=socket.uid, scope="message")
    # A send ends a typing stream: the next one starts afresh (clients reset on a send too).
    socket.state.get("chat.typing", {}).pop(conversation, None)
    if not pg.available():
        return await _send_orm(socket.user, conversation, body, client_id, reply_to)
    item = sending.SendItem(
        sender_id=socket.uid, conversation_id=conversation, body=body, client_id=client_id, reply_to=reply_to
    )
    sent = sending.outcome(await sending.SENDS.submit(item), item, sender=socket.brief)
    data = Encoded(events.dumps(sent.data))
    if sent.created:
        events.announce("message.new", sent.assigned, data, committed=True)
    return data


@database_call
def _send_orm(user, conversation_id: int, body: str, client_id: str, reply_to: int | None) -> dict:
    message, _created = services.message_send(
        sender=user, conversation_id=conversation_id, body=body, client_id=client_id, reply_to=reply_to
    )
    return message_payload(message)


@frame_handler("message.react")
async def message_react(socket, frame: dict) -> dict:
    """`{"message": 9, "emoji": "❤️" | null}`: sets, replaces or (null) removes the socket
    user's reaction, as the REST endpoints do; the ack carries the event's data."""
    message_id = int_field(frame, "message")
    if "emoji" not in frame:
        raise FrameError("invalid", "Missing field: emoji.")
    emoji = frame["emoji"]
    if emoji is not None:
        services.emoji_validate(emoji)
    athrottle_user_write(user_id=socket.uid, scope="message")
    return await _react(socket.user, message_id, emoji)


@database_call
def _react(user, message_id: int, emoji: str | None) -> dict:
    if emoji is None:
        return dict(services.reaction_delete(user=user, message_id=message_id))
    return dict(services.reaction_set(user=user, message_id=message_id, emoji=emoji))


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
    relayed: dict = socket.state.setdefault("chat.typing", {})
    now = time.monotonic()
    last = relayed.get(conversation)
    if last is not None and now - last < TYPING_INTERVAL_SECONDS:
        return
    others = await _typing_audience(socket.uid, conversation)
    if others is None:
        raise FrameError("not_found", "No such conversation.")
    if len(relayed) >= TYPING_STATE_MAX:
        relayed.clear()
    relayed[conversation] = now
    if others:
        socket.push(
            others, {"type": "typing", "data": {"conversation": conversation, "user": socket.brief}}, skip_self=True
        )


async def _typing_audience(user_id: int, conversation_id: int) -> list[int] | None:
    """Who hears the user type in this conversation (None: not the user's), asked afresh."""
    if pg.available():
        rows = await pg.fetch(
            selectors.TYPING_AUDIENCE_SQL, selectors.typing_params(user_id=user_id, conversation_id=conversation_id)
        )
        return selectors.typing_audience(rows, user_id=user_id)
    return await database_call(selectors.conversation_typing_audience)(user_id=user_id, conversation_id=conversation_id)


def conversation_peers(user_id: int) -> list[int]:
    """Who hears this user's presence: everyone sharing a conversation with them."""
    return selectors.conversation_peer_ids(user_id=user_id)
