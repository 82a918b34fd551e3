from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

CAPTION_MAX = 2200
COMMENT_MAX = 2200


# One copy of the bound: the request-size limit of POST /api/posts is derived from it too.
POST_IMAGES_MAX = settings.POST_IMAGES_MAX


class Post(models.Model):
    """A post of 1 to POST_IMAGES_MAX images. The first image lives on the post itself
    (`image`, `thumbnail`, `image_width`, `image_height`), so a one-image post is one row;
    the others are PostImage rows at positions 1 and up."""

    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts")
    image = models.ImageField(upload_to="posts/%Y/%m/")
    thumbnail = models.ImageField(upload_to="thumbs/%Y/%m/")
    # 0 for posts made before sizes were kept.
    image_width = models.PositiveIntegerField(default=0)
    image_height = models.PositiveIntegerField(default=0)
    caption = models.TextField(blank=True, max_length=CAPTION_MAX)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
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


class PostImage(models.Model):
    """The second to tenth image of a post, in order (`position` 1 to 9)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="extra_images")
    position = models.PositiveSmallIntegerField()
    image = models.ImageField(upload_to="posts/%Y/%m/")
    thumbnail = models.ImageField(upload_to="thumbs/%Y/%m/")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "position"], name="post_image_position_unique"),
            models.CheckConstraint(
                condition=models.Q(position__gte=1, position__lt=POST_IMAGES_MAX), name="post_image_position_range"
            ),
        ]


class Save(models.Model):
    """A post saved by a user, for them alone."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saves")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="saves")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "post"], name="save_unique")]
        # "My saved posts, newest saved first" (the paginator orders by -id).
        indexes = [models.Index(F("user"), F("id").desc(), name="save_user_recent")]


TAG_MAX = 100


class Hashtag(models.Model):
    """A `#tag`, by its lower-case name; `post_count` counts the posts whose caption
    carries it (kept with F() by the post services)."""

    name = models.CharField(max_length=TAG_MAX, unique=True)
    post_count = models.PositiveIntegerField(default=0)

    class Meta:
        # Prefix search (`GET /api/tags?q=`): LIKE 'q%' on the lower-case name.
        indexes = [models.Index(fields=["name"], name="hashtag_name_prefix", opclasses=["varchar_pattern_ops"])]

    def __str__(self) -> str:
        return f"#{self.name}"


class PostHashtag(models.Model):
    """A post carries a tag in its caption. The unique (hashtag, post) index is also the
    tag page's: newest posts of a tag first, by post id."""

    hashtag = models.ForeignKey(Hashtag, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hashtag", "post"], name="post_hashtag_unique")]
        indexes = [models.Index(fields=["post"], name="post_hashtag_post")]


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
