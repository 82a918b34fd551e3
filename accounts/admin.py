from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import Block, Credential, Follow, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "full_name", "follower_count", "following_count", "post_count", "is_active")
    # Addresses are encrypted: the admin shows them, but cannot search them.
    search_fields = ("username", "full_name")
    readonly_fields = ("follower_count", "following_count", "post_count", "last_login", "date_joined")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Profile", {"fields": ("bio", "avatar", "follower_count", "following_count", "post_count")}),
    )


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ("follower", "followee", "created_at")
    raw_id_fields = ("follower", "followee")
    list_select_related = ("follower", "followee")


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ("blocker", "blocked", "created_at")
    raw_id_fields = ("blocker", "blocked")
    list_select_related = ("blocker", "blocked")


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    """Only digests are stored: an admin can revoke a token or session, never read one."""

    list_display = ("user", "kind", "created_at", "last_used_at", "ip")
    list_filter = ("kind",)
    raw_id_fields = ("user",)
    fields = ("user", "kind", "digest", "created_at", "last_used_at", "user_agent", "ip")
    readonly_fields = fields
    list_select_related = ("user",)

    def has_add_permission(self, request):
        return False
