from django.conf import settings
from django.db import models
from django.db.models import F
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
