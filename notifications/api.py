"""Notifications REST API: list, mark read."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications import selectors, services
from notifications.serializers import NotificationSerializer
from realtime.pagination import CursorPagination

MAX_ID = 2**63 - 1


class NotificationListApi(APIView):
    """GET: my notifications, newest first."""

    @extend_schema(responses=NotificationSerializer(many=True))
    def get(self, request):
        paginator = CursorPagination()
        page = paginator.paginate_queryset(selectors.notification_list_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(NotificationSerializer(page, many=True).data)


class NotificationReadApi(APIView):
    """POST `{up_to}`: marks my notifications with id <= up_to as read."""

    class InputSerializer(serializers.Serializer):
        up_to = serializers.IntegerField(min_value=0, max_value=MAX_ID)

    class OutputSerializer(serializers.Serializer):
        updated = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = services.notifications_mark_read(user=request.user, up_to=data.validated_data["up_to"])
        return Response(self.OutputSerializer({"updated": updated}).data)
