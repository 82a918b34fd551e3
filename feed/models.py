from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

CAPTION_MAX = 2200
COMMENT_MAX = 2200


class Post(models.Model):
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts")
    image = models.ImageField(upload_to="posts/%Y/%m/")
    thumbnail = models.ImageField(upload_to="thumbs/%Y/%m/")
    caption = models.TextField(blank=True, max_length=CAPTION_MAX)
    created_at = models.DateTimeField(auto_now_add=True)
    like_count = models.PositiveIntegerField(default=0)
    comment_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("caption"), CAPTION_MAX), name="post_caption_length"
            ),
        ]
        indexes = [
            # The home feed and a profile grid: an author's posts, newest first.
            models.Index(F("author"), F("created_at").desc(), F("id").desc(), name="post_author_recent"),
            models.Index(F("created_at").desc(), F("id").desc(), name="post_recent"),
        ]

    def __str__(self) -> str:
        return f"post {self.pk} by {self.author_id}"


class Like(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "user"], name="like_unique")]
        indexes = [models.Index(fields=["user", "post"], name="like_user_post")]


class Comment(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField(max_length=COMMENT_MAX)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=LessThanOrEqual(Length("body"), COMMENT_MAX), name="comment_body_length"),
        ]
        indexes = [models.Index(F("post"), F("created_at"), F("id"), name="comment_post_oldest")]


STORY_LIFETIME_HOURS = 24


class Story(models.Model):
    """A photo shown for 24 hours. `expires_at` is fixed at creation; every read filters on
    it, so an expired story leaves every list at once, and `prune_stories` deletes the row
    and its file later."""

    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stories")
    image = models.ImageField(upload_to="stories/%Y/%m/")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="story_expires_after_creation"),
        ]
        indexes = [
            # The tray and a profile's ring: an author's live stories.
            models.Index(F("author"), F("expires_at"), name="story_author_live"),
            # prune_stories: the expired ones.
            models.Index(F("expires_at"), name="story_expiry"),
        ]

    def __str__(self) -> str:
        return f"story {self.pk} by {self.author_id}"


class StoryView(models.Model):
    """Someone saw a story (once per person; the author's own views are kept, not listed)."""

    story = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="views")
    viewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="story_views")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["story", "viewer"], name="story_view_unique")]
        indexes = [models.Index(fields=["viewer", "story"], name="story_view_viewer")]
