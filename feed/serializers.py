from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import UserBriefSerializer
from core.wire import file_url
from feed.models import Comment, Post, Story


class PostImageSerializer(serializers.Serializer):
    """One image of a post: `{url, thumbnail_url, width, height}`."""

    url = serializers.CharField()
    thumbnail_url = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


def post_images(post: Post) -> list[dict]:
    """The post's images in order: its own first image, then the PostImage rows (prefetched
    by the selectors; ordered here too, for a post loaded without them)."""
    images = [
        {
            "url": file_url(post, "image"),
            "thumbnail_url": file_url(post, "thumbnail"),
            "width": post.image_width,
            "height": post.image_height,
        }
    ]
    extras = sorted(post.extra_images.all(), key=lambda extra: extra.position) if post.pk else []
    for extra in extras:
        images.append(
            {
                "url": file_url(extra, "image"),
                "thumbnail_url": file_url(extra, "thumbnail"),
                "width": extra.width,
                "height": extra.height,
            }
        )
    return images


class PostSerializer(serializers.ModelSerializer):
    """post: `{id, author, image_url, thumbnail_url, images, caption, created_at,
    edited_at, like_count, comment_count, liked_by_me, saved_by_me}`; also the `data` of
    `feed.post` and `post.update` pushes.

    `liked_by_me` and `saved_by_me` are read from the instance's attributes of those
    names, which selectors annotate; absent, they are false. `image_url` and
    `thumbnail_url` are the first image's.
    """

    author = UserBriefSerializer()
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()
    liked_by_me = serializers.SerializerMethodField()
    saved_by_me = serializers.SerializerMethodField()

    class Meta:
        model = Post
        fields = [
            "id",
            "author",
            "image_url",
            "thumbnail_url",
            "images",
            "caption",
            "created_at",
            "edited_at",
            "like_count",
            "comment_count",
            "liked_by_me",
            "saved_by_me",
        ]

    @extend_schema_field(serializers.CharField())
    def get_image_url(self, post: Post) -> str | None:
        return file_url(post, "image")

    @extend_schema_field(serializers.CharField())
    def get_thumbnail_url(self, post: Post) -> str | None:
        return file_url(post, "thumbnail")

    @extend_schema_field(PostImageSerializer(many=True))
    def get_images(self, post: Post) -> list[dict]:
        return post_images(post)

    @extend_schema_field(serializers.BooleanField())
    def get_liked_by_me(self, post: Post) -> bool:
        return bool(getattr(post, "liked_by_me", False))

    @extend_schema_field(serializers.BooleanField())
    def get_saved_by_me(self, post: Post) -> bool:
        return bool(getattr(post, "saved_by_me", False))


def post_payload(post: Post) -> dict:
    return dict(PostSerializer(post).data)


class CommentSerializer(serializers.ModelSerializer):
    """comment: `{id, post, author, body, created_at}`."""

    post = serializers.IntegerField(source="post_id")
    author = UserBriefSerializer()

    class Meta:
        model = Comment
        fields = ["id", "post", "author", "body", "created_at"]


class StorySerializer(serializers.ModelSerializer):
    """story: `{id, author, image_url, created_at, expires_at, seen_by_me}`.

    `seen_by_me` is read from the instance's `seen_by_me` attribute, which selectors
    annotate; absent, it is false.
    """

    author = UserBriefSerializer()
    image_url = serializers.SerializerMethodField()
    seen_by_me = serializers.SerializerMethodField()

    class Meta:
        model = Story
        fields = ["id", "author", "image_url", "created_at", "expires_at", "seen_by_me"]

    @extend_schema_field(serializers.CharField())
    def get_image_url(self, story: Story) -> str | None:
        return file_url(story, "image")

    @extend_schema_field(serializers.BooleanField())
    def get_seen_by_me(self, story: Story) -> bool:
        return bool(getattr(story, "seen_by_me", False))


def story_payload(story: Story) -> dict:
    return dict(StorySerializer(story).data)


class StoryTraySerializer(serializers.Serializer):
    """A tray entry: `{user, stories: [story...], all_seen}`."""

    user = UserBriefSerializer()
    stories = StorySerializer(many=True)
    all_seen = serializers.BooleanField()


class StoryViewerSerializer(serializers.Serializer):
    """Who saw a story: `{user, seen_at}`."""

    user = UserBriefSerializer(source="viewer")
    seen_at = serializers.DateTimeField(source="created_at")
