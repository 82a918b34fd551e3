from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "recipient", "actor", "verb", "post", "comment", "read", "created_at"]
    list_filter = ["verb", "read"]
    raw_id_fields = ["recipient", "actor", "post", "comment"]
    list_select_related = ["recipient", "actor"]
