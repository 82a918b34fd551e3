from django.urls import path

from chat import api

urlpatterns = [
    path("conversations", api.ConversationListCreateApi.as_view(), name="conversations"),
    path("conversations/<int:conversation_id>", api.ConversationDetailApi.as_view(), name="conversation"),
    path(
        "conversations/<int:conversation_id>/messages", api.MessageListCreateApi.as_view(), name="conversation-messages"
    ),
    path("conversations/<int:conversation_id>/read", api.ConversationReadApi.as_view(), name="conversation-read"),
    path("conversations/<int:conversation_id>/accept", api.ConversationAcceptApi.as_view(), name="conversation-accept"),
    path("conversations/<int:conversation_id>/mute", api.ConversationMuteApi.as_view(), name="conversation-mute"),
    path(
        "conversations/<int:conversation_id>/participants",
        api.ParticipantAddApi.as_view(),
        name="conversation-participants",
    ),
    path(
        "conversations/<int:conversation_id>/participants/<str:username>",
        api.ParticipantRemoveApi.as_view(),
        name="conversation-participant",
    ),
    path("messages/<int:message_id>", api.MessageDetailApi.as_view(), name="message"),
    path("messages/<int:message_id>/reactions", api.MessageReactionApi.as_view(), name="message-reactions"),
]
