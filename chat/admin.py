from django.contrib import admin

from chat.models import Conversation, Message, Participant


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    raw_id_fields = ["user"]
    readonly_fields = ["last_read_message_id", "joined_at"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "direct_key", "created_at", "last_activity_at"]
    raw_id_fields = ["last_message"]
    inlines = [ParticipantInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    # Bodies are private: the admin shows who wrote when, not what.
    list_display = ["id", "conversation", "sender", "created_at"]
    fields = ["conversation", "sender", "client_id", "created_at"]
    readonly_fields = fields
    raw_id_fields = ["conversation", "sender"]
    list_select_related = ["sender"]
