"""DMs on PostgreSQL: one statement, shared by REST and the socket, several sends at once.

`chat_message_send` (chat/migrations/0005_message_send_replies_groups.py) does a send's every step
in the database and returns one row per item. A REST send runs it with one item; the socket
sends of a node go through `SENDS`, which hands the sends that arrive while a statement is in
flight to the next one together: one round trip and one commit (with its disk flush) for
all of them (group commit). Each item is still its own message with its own outcome: a
refusal of one refuses no other.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from chat.serializers import message_data
from core import crypto
from core.errors import Conflict
from realtime import pg
from realtime.batch import Batches

SEND_SQL = (
    "SELECT r_index, r_status, r_id, r_body, r_created_at, r_recipients, r_seqs, r_reply_to, r_edited_at, r_deleted"
    " FROM chat_message_send(%s, %s, %s, %s, %s, %s)"
)
REFUSALS = {
    "not_found": lambda: NotFound("No such conversation."),
    "conflict": lambda: Conflict("This client_id was already used for a message in another conversation."),
    "blocked": lambda: PermissionDenied("You cannot message this person."),
    "bad_reply": lambda: ValidationError({"reply_to": ["No such message in this conversation."]}),
    # Something unforeseen failed in the database for this item alone (logged there).
    "error": lambda: RuntimeError("the message could not be stored"),
}
# Statements in flight at once per node (each on its own connection of realtime.pg).
CONCURRENCY = 2


@dataclass(frozen=True)
class SendItem:
    sender_id: int
    conversation_id: int
    body: str
    client_id: str
    reply_to: int | None = None


@dataclass(frozen=True)
class Sent:
    """A send's outcome: the message (`message_data` shape, body in plain text), whether it
    is new (a retry returns the original), and the id of its `message.new` per recipient."""

    data: dict
    created: bool
    created_at: datetime
    assigned: dict[int, int]
    edited_at: datetime | None = None


def send_params(items: list[SendItem]) -> tuple:
    """SEND_SQL's parameters for these items: the bodies leave this process encrypted."""
    return (
        [item.sender_id for item in items],
        [item.conversation_id for item in items],
        [crypto.encrypt(item.body) for item in items],
        [item.client_id for item in items],
        [item.reply_to for item in items],
        timezone.now(),
    )


def outcome(row: tuple, item: SendItem, *, sender: dict) -> Sent:
    """Reads an item's row; a refusal raises as the ORM path would."""
    _index, status, message_id, stored_body, created_at, recipients, seqs, reply_to, edited_at, deleted = row
    if status in REFUSALS:
        raise REFUSALS[status]()
    body = item.body if status == "created" else crypto.decrypt(stored_body)
    data = message_data(
        message_id=message_id,
        conversation_id=item.conversation_id,
        sender=sender,
        body=body,
        client_id=item.client_id,
        created_at=created_at,
        reply_to=reply_to,
        edited_at=edited_at,
        deleted=bool(deleted),
    )
    return Sent(
        data=data,
        created=status == "created",
        created_at=created_at,
        assigned=dict(zip(recipients or (), seqs or (), strict=True)),
        edited_at=edited_at,
    )


async def _run_many(items: list[SendItem]) -> list[tuple]:
    rows = await pg.fetch(SEND_SQL, send_params(items))
    return sorted(rows)  # by r_index: the items' order


# The socket sends of this node, committed together when they arrive together.
SENDS = Batches(_run_many, concurrency=CONCURRENCY)
