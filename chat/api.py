"""Chat REST API: views parse input, check access through the selectors, call the services."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from chat import selectors, services
from chat.models import CLIENT_ID_MAX
from chat.serializers import ConversationSerializer, MessageSerializer
from core.ids import MAX_ID
from core.pagination import CursorPagination
from core.throttling import ScopedThrottle


class ConversationPagination(CursorPagination):
    # Newest activity first. A conversation that gets a message while a client pages moves
    # to the top; the client learns of it from `message.new` anyway.
    ordering = ("-last_activity_at", "-id")


class ConversationListCreateApi(APIView):
    """GET: my conversations, newest activity first. POST: open one (201 new; 200 for the
    existing 1:1 conversation)."""

    pagination_class = ConversationPagination
    # Opening conversations counts against the message scope: each open may add up to 51
    # rows and reaches people who never asked, so it is throttled like a send.
    throttle_classes = [*api_settings.DEFAULT_THROTTLE_CLASSES, ScopedThrottle]
    throttle_scope = "message"

    class ConversationOpenInputSerializer(serializers.Serializer):
        usernames = serializers.ListField(
            child=serializers.CharField(max_length=30), min_length=1, max_length=services.GROUP_MAX_OTHERS + 1
        )

    @extend_schema(responses=ConversationSerializer(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.conversation_list_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(ConversationSerializer(page, many=True).data)

    @extend_schema(
        request=ConversationOpenInputSerializer, responses={200: ConversationSerializer, 201: ConversationSerializer}
    )
    def post(self, request):
        data = self.ConversationOpenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation, created = services.conversation_open(
            creator=request.user, usernames=data.validated_data["usernames"]
        )
        shaped = selectors.conversation_get_for_user(user=request.user, conversation_id=conversation.pk)
        return Response(
            ConversationSerializer(shaped).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class MessageListCreateApi(APIView):
    """GET: a conversation's messages, newest first. POST: send one (201 new; 200 for a
    retry with the same client_id)."""

    throttle_classes = [*api_settings.DEFAULT_THROTTLE_CLASSES, ScopedThrottle]
    throttle_scope = "message"
    pagination_class = CursorPagination

    class MessageSendInputSerializer(serializers.Serializer):
        # Lengths and emptiness are the service's to check, so REST and socket agree.
        body = serializers.CharField(trim_whitespace=False, allow_blank=True)
        client_id = serializers.CharField(trim_whitespace=False, allow_blank=True, max_length=CLIENT_ID_MAX)

    @extend_schema(responses=MessageSerializer(many=True))
    def get(self, request, conversation_id: int):
        messages = selectors.message_page(user=request.user, conversation_id=conversation_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(messages, request, view=self)
        return paginator.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(request=MessageSendInputSerializer, responses={200: MessageSerializer, 201: MessageSerializer})
    def post(self, request, conversation_id: int):
        data = self.MessageSendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message, created = services.message_send(
            sender=request.user,
            conversation_id=conversation_id,
            body=data.validated_data["body"],
            client_id=data.validated_data["client_id"],
        )
        return Response(
            MessageSerializer(message).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ConversationReadApi(APIView):
    """POST: move my read position forward to `message_id`."""

    class ConversationReadInputSerializer(serializers.Serializer):
        message_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    class ConversationReadOutputSerializer(serializers.Serializer):
        conversation = serializers.IntegerField(source="conversation_id")
        last_read_message_id = serializers.IntegerField()

    @extend_schema(request=ConversationReadInputSerializer, responses=ConversationReadOutputSerializer)
    def post(self, request, conversation_id: int):
        data = self.ConversationReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.conversation_mark_read(
            user=request.user, conversation_id=conversation_id, message_id=data.validated_data["message_id"]
        )
        return Response(self.ConversationReadOutputSerializer(participant).data)
