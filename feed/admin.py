from django.contrib import admin

from feed.models import Comment, Like, Post, Story


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("id", "author", "created_at", "like_count", "comment_count")
    raw_id_fields = ("author",)
    readonly_fields = ("like_count", "comment_count", "created_at")
    list_select_related = ("author",)
    search_fields = ("caption", "author__username")


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("id", "post", "author", "created_at")
    raw_id_fields = ("post", "author")
    list_select_related = ("author",)


@admin.register(Like)
class LikeAdmin(admin.ModelAdmin):
    list_display = ("id", "post", "user", "created_at")
    raw_id_fields = ("post", "user")
    list_select_related = ("user",)


@admin.register(Story)
class StoryAdmin(admin.ModelAdmin):
    list_display = ("id", "author", "created_at", "expires_at")
    raw_id_fields = ("author",)
    list_select_related = ("author",)
