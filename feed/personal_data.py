"""What feed holds of one person, for their export and their account's deletion
(accounts.signals.user_export / user_deleting, connected in FeedConfig.ready())."""

import logging

from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import Greatest

from feed.hashtags import post_tags_drop
from feed.models import Comment, Like, Post, PostImage, Save, Story

log = logging.getLogger(__name__)


def export_feed(*, user, archive, **kwargs) -> None:
    """Posts with their images, comments, likes, saved posts and stories of the person."""
    posts = []
    for post in Post.objects.filter(author=user).prefetch_related("extra_images").order_by("created_at"):
        extra = sorted(post.extra_images.all(), key=lambda image: image.position)
        posts.append(
            {
                "id": post.pk,
                "caption": post.caption,
                "created_at": post.created_at,
                "image": archive.add_file(post.image),
                "more_images": [archive.add_file(image.image) for image in extra],
                "like_count": post.like_count,
                "comment_count": post.comment_count,
            }
        )
    archive.add_json("posts", posts)
    comments = Comment.objects.filter(author=user).select_related("post__author").order_by("created_at")
    archive.add_json(
        "comments",
        [
            {
                "id": c.pk,
                "post": c.post_id,
                "post_author": c.post.author.username,
                "body": c.body,
                "created_at": c.created_at,
            }
            for c in comments.iterator()
        ],
    )
    likes = Like.objects.filter(user=user).select_related("post__author").order_by("created_at")
    archive.add_json(
        "likes",
        [
            {"post": like.post_id, "post_author": like.post.author.username, "created_at": like.created_at}
            for like in likes
        ],
    )
    saves = Save.objects.filter(user=user).select_related("post__author").order_by("created_at")
    archive.add_json(
        "saved",
        [
            {"post": save.post_id, "post_author": save.post.author.username, "created_at": save.created_at}
            for save in saves
        ],
    )
    stories = Story.objects.filter(author=user).order_by("created_at")
    archive.add_json(
        "stories",
        [
            {"id": s.pk, "created_at": s.created_at, "expires_at": s.expires_at, "image": archive.add_file(s.image)}
            for s in stories.iterator()
        ],
    )


def forget_feed(*, user, **kwargs) -> None:
    """Before the cascade: the person's likes and comments leave other people's counts, their
    posts leave the hashtag counts, and the files of their posts and stories are deleted
    after commit."""
    liked = Like.objects.filter(user=user).exclude(post__author=user).values("post_id")
    Post.objects.filter(pk__in=liked).update(like_count=Greatest(F("like_count") - 1, 0))
    commented = Comment.objects.filter(author=user).exclude(post__author=user).values("post_id").annotate(n=Count("id"))
    for row in commented:
        Post.objects.filter(pk=row["post_id"]).update(comment_count=Greatest(F("comment_count") - row["n"], 0))
    files = []
    for post in Post.objects.filter(author=user).only("image", "thumbnail"):
        files.extend(f for f in (post.image, post.thumbnail) if f)
        post_tags_drop(post_id=post.pk)
    for image in PostImage.objects.filter(post__author=user).only("image", "thumbnail"):
        files.extend(f for f in (image.image, image.thumbnail) if f)
    files.extend(story.image for story in Story.objects.filter(author=user).only("image") if story.image)
    if files:
        transaction.on_commit(lambda: _delete_files(files), robust=True)


def _delete_files(files) -> None:
    for field_file in files:
        try:
            field_file.storage.delete(field_file.name)
        except Exception:  # noqa: BLE001 - an orphaned file is harmless
            log.warning("could not delete %s", field_file.name, exc_info=True)
