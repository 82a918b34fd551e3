"""Notifications REST API: list, mark read."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.ids import MAX_ID
from core.pagination import CursorPagination
from notifications import selectors, services
from notifications.serializers import NotificationSerializer


class NotificationListApi(APIView):
    """GET: my notifications, newest first."""

    pagination_class = CursorPagination

    @extend_schema(responses=NotificationSerializer(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.notification_list_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(NotificationSerializer(page, many=True).data)


class NotificationReadApi(APIView):
    """POST `{up_to}`: marks my notifications with id <= up_to as read."""

    class NotificationReadInputSerializer(serializers.Serializer):
        up_to = serializers.IntegerField(min_value=0, max_value=MAX_ID)

    class NotificationReadOutputSerializer(serializers.Serializer):
        updated = serializers.IntegerField()

    @extend_schema(request=NotificationReadInputSerializer, responses=NotificationReadOutputSerializer)
    def post(self, request):
        data = self.NotificationReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = services.notifications_mark_read(user=request.user, up_to=data.validated_data["up_to"])
        return Response(self.NotificationReadOutputSerializer({"updated": updated}).data)
