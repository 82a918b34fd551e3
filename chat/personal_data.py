"""What chat holds of one person, for their export (accounts.signals.user_export, connected
in ChatConfig.ready()): their conversations with every message decrypted."""

import logging

from django.core.files.storage import default_storage
from django.db import transaction

from chat.models import Conversation, Message, Participant, Reaction

log = logging.getLogger(__name__)


def export_chat(*, user, archive, **kwargs) -> None:
    conversations = []
    memberships = Participant.objects.filter(user=user).select_related("conversation").order_by("conversation_id")
    for membership in memberships:
        conversation = membership.conversation
        people = Participant.objects.filter(conversation=conversation).select_related("user")
        messages = Message.objects.filter(conversation=conversation).select_related("sender").order_by("id")
        conversations.append(
            {
                "id": conversation.pk,
                "participants": [p.user.username for p in people],
                "messages": [
                    {
                        "id": m.pk,
                        "sender": m.sender.username if m.sender_id else None,
                        "body": m.body,
                        "image": archive.add_file(m.image) if m.image else None,
                        "created_at": m.created_at,
                    }
                    for m in messages.iterator()
                ],
            }
        )
    archive.add_json("messages", conversations)


def forget_chat(*, user, **kwargs) -> None:
    """Before the account goes: the person's messages stay in conversations that others are
    still in, from nobody (`sender` null once the row goes), `deleted`, with the body,
    photos and reactions erased; conversations nobody else is in go with their messages."""
    mine = Participant.objects.filter(user=user).values("conversation_id")
    shared = Participant.objects.filter(conversation_id__in=mine).exclude(user=user).values("conversation_id")
    Conversation.objects.filter(pk__in=mine).exclude(pk__in=shared).delete()
    mine_sent = Message.objects.filter(sender=user)
    photos = [name for pair in mine_sent.exclude(image="").values_list("image", "thumbnail") for name in pair if name]
    Reaction.objects.filter(message__sender=user).delete()
    mine_sent.update(body="", deleted=True, image="", thumbnail="")
    transaction.on_commit(lambda: _delete_files(photos), robust=True)


def _delete_files(names: list[str]) -> None:
    """The photos of a gone account leave the media store (an orphan is logged, not fatal)."""
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # noqa: BLE001 - a file left behind is harmless
            log.warning("could not delete %s", name, exc_info=True)
