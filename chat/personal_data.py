"""What chat holds of one person, for their export (accounts.signals.user_export, connected
in ChatConfig.ready()): their conversations with every message decrypted."""

from chat.models import Conversation, Message, Participant


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
                        "created_at": m.created_at,
                    }
                    for m in messages.iterator()
                ],
            }
        )
    archive.add_json("messages", conversations)


def forget_chat(*, user, **kwargs) -> None:
    """Before the account goes: the person's messages stay in conversations that others are
    still in, from nobody (`sender` null once the row goes), `deleted`, with the body
    erased; conversations nobody else is in go with their messages."""
    mine = Participant.objects.filter(user=user).values("conversation_id")
    shared = Participant.objects.filter(conversation_id__in=mine).exclude(user=user).values("conversation_id")
    Conversation.objects.filter(pk__in=mine).exclude(pk__in=shared).delete()
    Message.objects.filter(sender=user).update(body="", deleted=True)
