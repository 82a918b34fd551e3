"""Chat REST API: views parse input, check access through the selectors, call the services."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from chat import selectors, services
from chat.models import CLIENT_ID_MAX, TITLE_MAX
from chat.serializers import ConversationSerializer, MessageSerializer, ReactionPayloadSerializer
from core.ids import MAX_ID
from core.images import check_request_size
from core.pagination import CursorPagination
from core.parsers import JSONParser
from core.throttling import ScopedThrottle

THROTTLES = [*api_settings.DEFAULT_THROTTLE_CLASSES, ScopedThrottle]


def _conversation(request, conversation_id: int, *, status_code: int = status.HTTP_200_OK) -> Response:
    shaped = selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
    return Response(ConversationSerializer(shaped).data, status=status_code)


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

    @extend_schema(
        parameters=[OpenApiParameter("box", enum=["requests"], required=False)],
        responses=ConversationSerializer(many=True),
    )
    def get(self, request):
        """The inbox (accepted conversations), or with `box=requests` the message requests."""
        box = request.query_params.get("box") or "accepted"
        if box not in selectors.BOXES:
            raise ValidationError({"box": ["Either absent or requests."]})
        paginator = self.pagination_class()
        conversations = selectors.conversation_list_for_user(user=request.user, box=box)
        page = paginator.paginate_queryset(conversations, request, view=self)
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
    """GET: a conversation's messages, newest first. POST: send one, as JSON (text) or
    multipart (`image`, optional `body` as its caption): 201 new; 200 for a retry with the
    same client_id."""

    throttle_classes = THROTTLES
    throttle_scope = "message"
    pagination_class = CursorPagination
    parser_classes = [JSONParser, MultiPartParser]

    class MessageSendInputSerializer(serializers.Serializer):
        # Lengths and emptiness are the service's to check, so REST and socket agree.
        body = serializers.CharField(trim_whitespace=False, allow_blank=True, required=False)
        client_id = serializers.CharField(trim_whitespace=False, allow_blank=True, max_length=CLIENT_ID_MAX)
        reply_to = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
        image = serializers.FileField(allow_empty_file=False, required=False)

    @extend_schema(responses=MessageSerializer(many=True))
    def get(self, request, conversation_id: int):
        messages = selectors.message_page(user=request.user, conversation_id=conversation_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(messages, request, view=self)
        return paginator.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(request=MessageSendInputSerializer, responses={200: MessageSerializer, 201: MessageSerializer})
    def post(self, request, conversation_id: int):
        if request.content_type.startswith("multipart/"):
            check_request_size(request)
        data = self.MessageSendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        if "image" in fields:
            message, created = services.message_send_image(
                sender=request.user,
                conversation_id=conversation_id,
                image=fields["image"],
                client_id=fields["client_id"],
                body=fields.get("body", ""),
                reply_to=fields.get("reply_to"),
            )
        else:
            if "body" not in fields:
                raise ValidationError({"body": ["This field is required."]})
            message, created = services.message_send(
                sender=request.user,
                conversation_id=conversation_id,
                body=fields["body"],
                client_id=fields["client_id"],
                reply_to=fields.get("reply_to"),
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


class ConversationDetailApi(APIView):
    """GET: one of my conversations. PATCH: rename a group `{title}`. DELETE: delete the
    conversation for me alone (204)."""

    @extend_schema(responses=ConversationSerializer)
    def get(self, request, conversation_id: int):
        return _conversation(request, conversation_id)

    class ConversationTitleInputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=TITLE_MAX, allow_blank=True, trim_whitespace=False)

    @extend_schema(request=ConversationTitleInputSerializer, responses=ConversationSerializer)
    def patch(self, request, conversation_id: int):
        data = self.ConversationTitleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.conversation_set_title(
            user=request.user, conversation_id=conversation_id, title=data.validated_data["title"]
        )
        return _conversation(request, conversation_id)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, conversation_id: int):
        services.conversation_hide(user=request.user, conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConversationAcceptApi(APIView):
    """POST: accept a message request (idempotent): 200 with the conversation."""

    @extend_schema(request=None, responses=ConversationSerializer)
    def post(self, request, conversation_id: int):
        services.conversation_accept(user=request.user, conversation_id=conversation_id)
        return _conversation(request, conversation_id)


class ConversationMuteApi(APIView):
    """POST: mute, DELETE: unmute (both idempotent): 200 with the conversation."""

    @extend_schema(request=None, responses=ConversationSerializer)
    def post(self, request, conversation_id: int):
        services.conversation_mute(user=request.user, conversation_id=conversation_id, muted=True)
        return _conversation(request, conversation_id)

    @extend_schema(request=None, responses=ConversationSerializer)
    def delete(self, request, conversation_id: int):
        services.conversation_mute(user=request.user, conversation_id=conversation_id, muted=False)
        return _conversation(request, conversation_id)


class ParticipantAddApi(APIView):
    """POST: add people to a group `{usernames}`: 200 with the conversation."""

    throttle_classes = THROTTLES
    throttle_scope = "message"

    class ParticipantAddInputSerializer(serializers.Serializer):
        usernames = serializers.ListField(
            child=serializers.CharField(max_length=30), min_length=1, max_length=services.GROUP_MAX_OTHERS + 1
        )

    @extend_schema(request=ParticipantAddInputSerializer, responses=ConversationSerializer)
    def post(self, request, conversation_id: int):
        data = self.ParticipantAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.participants_add(
            user=request.user, conversation_id=conversation_id, usernames=data.validated_data["usernames"]
        )
        return _conversation(request, conversation_id)


class ParticipantRemoveApi(APIView):
    """DELETE: leave a group (your own username only): 204."""

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, conversation_id: int, username: str):
        services.participant_remove(user=request.user, conversation_id=conversation_id, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageDetailApi(APIView):
    """PATCH: the sender edits `{body}` within 15 minutes. DELETE: the sender unsends (204)."""

    class MessageEditInputSerializer(serializers.Serializer):
        body = serializers.CharField(trim_whitespace=False, allow_blank=True)

    @extend_schema(request=MessageEditInputSerializer, responses=MessageSerializer)
    def patch(self, request, message_id: int):
        data = self.MessageEditInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_edit(user=request.user, message_id=message_id, body=data.validated_data["body"])
        return Response(MessageSerializer(message).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, message_id: int):
        services.message_unsend(user=request.user, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageReactionApi(APIView):
    """POST: set or replace my reaction `{emoji}`. DELETE: remove it (idempotent). Both
    answer with the `message.reaction` data."""

    throttle_classes = THROTTLES
    throttle_scope = "message"

    class ReactionInputSerializer(serializers.Serializer):
        emoji = serializers.CharField(max_length=16, trim_whitespace=False)

    @extend_schema(request=ReactionInputSerializer, responses=ReactionPayloadSerializer)
    def post(self, request, message_id: int):
        data = self.ReactionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.reaction_set(user=request.user, message_id=message_id, emoji=data.validated_data["emoji"])
        return Response(result)

    @extend_schema(request=None, responses=ReactionPayloadSerializer)
    def delete(self, request, message_id: int):
        return Response(services.reaction_delete(user=request.user, message_id=message_id))
