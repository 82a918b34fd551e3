from django.urls import path

from notifications import api

urlpatterns = [
    path("notifications", api.NotificationListApi.as_view(), name="notifications"),
    path("notifications/read", api.NotificationReadApi.as_view(), name="notifications-read"),
]
