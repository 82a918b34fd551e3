from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import ApiToken, Block, Follow, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "full_name", "follower_count", "following_count", "post_count", "is_active")
    search_fields = ("username", "email", "full_name")
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


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Only digests are stored: an admin can revoke a token, never read one."""

    list_display = ("user", "created_at")
    raw_id_fields = ("user",)
    readonly_fields = ("digest", "user", "created_at")
    list_select_related = ("user",)

    def has_add_permission(self, request):
        return False
