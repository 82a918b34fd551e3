from django.urls import path

from chat import api

urlpatterns = [
    path("conversations", api.ConversationListCreateApi.as_view(), name="conversations"),
    path(
        "conversations/<int:conversation_id>/messages", api.MessageListCreateApi.as_view(), name="conversation-messages"
    ),
    path("conversations/<int:conversation_id>/read", api.ConversationReadApi.as_view(), name="conversation-read"),
]
