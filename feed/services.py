"""Feed writes: posts, likes, comments. Each runs in one transaction; counts change with
F() next to the rows they count; notifications go through `notification_create`, which
stores the durable event in the same transaction."""

import logging

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from rest_framework import exceptions

from accounts.cache import profile_cache_invalidate
from accounts.models import User
from accounts.selectors import block_exists, content_access_check, is_blocked_by
from core.images import image_process
from feed import fanout
from feed.models import CAPTION_MAX, COMMENT_MAX, Comment, Like, Post
from feed.selectors import post_get
from notifications.services import mentioned_users, notification_create, notifications_create

log = logging.getLogger(__name__)


def _decrement(field: str):
    return Greatest(F(field) - 1, 0)


def _delete_files(storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001 - an orphaned file is harmless
            log.warning("could not delete %s", name, exc_info=True)


def _post_for_write(post_id: int, user: User) -> Post:
    """The post `user` acts on; NotFound when missing or when its author blocked `user` (to
    whom it does not exist)."""
    post = Post.objects.select_related("author").filter(pk=post_id).first()
    if post is None or is_blocked_by(viewer_id=user.pk, user_id=post.author_id):
        raise exceptions.NotFound("No such post.")
    return post


def post_create(*, author: User, image, caption: str = "") -> Post:
    """Publishes a photo: validates and re-encodes the image (see core.images), stores it
    and its thumbnail, creates the post, bumps the author's post_count, notifies users
    @mentioned in the caption, and after commit hands the post to the feed fan-out.

    Raises ValidationError (caption over 2,200 characters, not an image) or ImageTooLarge.
    """
    caption = caption or ""
    if len(caption) > CAPTION_MAX:
        raise exceptions.ValidationError({"caption": [f"At most {CAPTION_MAX} characters."]})
    processed = image_process(upload=image, field="image")

    post = Post(author=author, caption=caption)
    # Files are written before the transaction (no lock held during I/O) and removed again
    # if it fails.
    post.image.save(processed.image.name, processed.image, save=False)
    post.thumbnail.save(processed.thumbnail.name, processed.thumbnail, save=False)
    try:
        with transaction.atomic():
            post.save()
            User.objects.filter(pk=author.pk).update(post_count=F("post_count") + 1)
            notifications_create(
                actor=author, notices=[(user, "mention") for user in mentioned_users(caption)], post=post
            )
            profile_cache_invalidate(author.username)
            post_id = post.pk
            transaction.on_commit(lambda: fanout.post_created(post_id), robust=True)
    except BaseException:
        _delete_files(post.image.storage, [name for name in (post.image.name, post.thumbnail.name) if name])
        raise
    return post


@transaction.atomic
def post_delete(*, user: User, post_id: int) -> None:
    """Deletes a post (its author only: PermissionDenied otherwise; NotFound when missing),
    with its likes, comments and notifications; the image files go after commit."""
    post = Post.objects.select_for_update().select_related("author").filter(pk=post_id).first()
    if post is None or is_blocked_by(viewer_id=user.pk, user_id=post.author_id):
        raise exceptions.NotFound("No such post.")
    if post.author_id != user.pk:
        raise exceptions.PermissionDenied("Only the author can delete a post.")
    names = [name for name in (post.image.name, post.thumbnail.name) if name]
    storage = post.image.storage
    Post.objects.filter(pk=post.pk).delete()
    User.objects.filter(pk=post.author_id).update(post_count=_decrement("post_count"))
    profile_cache_invalidate(post.author.username)
    transaction.on_commit(lambda: _delete_files(storage, names), robust=True)


def _as_seen_by(post_id: int, viewer: User) -> Post:
    post = post_get(post_id=post_id, viewer=viewer)
    if post is None:  # its author deleted it meanwhile
        raise exceptions.NotFound("No such post.")
    return post


@transaction.atomic
def like_create(*, user: User, post_id: int) -> tuple[Post, bool]:
    """Likes a post; returns the post (as the user sees it) and whether the like is new.

    Idempotent. PermissionDenied when the user and the author block each other, and
    PrivateAccount (403 `private`) on a private account the user does not follow. A new like
    bumps like_count and notifies the author (not twice within an hour of re-liking).
    """
    post = _post_for_write(post_id, user)
    if block_exists(user.pk, post.author_id):
        raise exceptions.PermissionDenied("You cannot like this post.")
    content_access_check(viewer=user, owner=post.author)
    _, created = Like.objects.get_or_create(user=user, post=post)
    if created:
        Post.objects.filter(pk=post.pk).update(like_count=F("like_count") + 1)
        notification_create(recipient=post.author, actor=user, verb="like", post=post)
    return _as_seen_by(post.pk, user), created


@transaction.atomic
def like_delete(*, user: User, post_id: int) -> tuple[Post, bool]:
    """Withdraws a like; returns the post and whether a like was removed. Idempotent."""
    post = _post_for_write(post_id, user)
    deleted, _ = Like.objects.filter(user=user, post=post).delete()
    if deleted:
        Post.objects.filter(pk=post.pk).update(like_count=_decrement("like_count"))
    return _as_seen_by(post.pk, user), bool(deleted)


@transaction.atomic
def comment_create(*, author: User, post_id: int, body: str) -> Comment:
    """Adds a comment (1 to 2,200 characters) and notifies the post's author (`comment`)
    and anyone @mentioned (`mention`); a mentioned post author gets the one `comment`.

    PermissionDenied when the commenter and the post's author block each other;
    PrivateAccount (403 `private`) on a private account the commenter does not follow.
    """
    body = (body or "").strip()
    if not body:
        raise exceptions.ValidationError({"body": ["A comment cannot be empty."]})
    if len(body) > COMMENT_MAX:
        raise exceptions.ValidationError({"body": [f"At most {COMMENT_MAX} characters."]})
    post = _post_for_write(post_id, author)
    if block_exists(author.pk, post.author_id):
        raise exceptions.PermissionDenied("You cannot comment on this post.")
    content_access_check(viewer=author, owner=post.author)
    comment = Comment.objects.create(post=post, author=author, body=body)
    Post.objects.filter(pk=post.pk).update(comment_count=F("comment_count") + 1)
    notices = [(post.author, "comment")]
    notices += [(user, "mention") for user in mentioned_users(body) if user.pk != post.author_id]
    notifications_create(actor=author, notices=notices, post=post, comment=comment)
    return comment


@transaction.atomic
def comment_delete(*, user: User, comment_id: int) -> None:
    """Deletes a comment: its author or the post's author may (PermissionDenied otherwise,
    NotFound when missing). Keeps the post's comment_count right."""
    comment = Comment.objects.select_for_update(of=("self",)).select_related("post").filter(pk=comment_id).first()
    if comment is None or any(
        is_blocked_by(viewer_id=user.pk, user_id=author) for author in {comment.author_id, comment.post.author_id}
    ):
        raise exceptions.NotFound("No such comment.")
    if user.pk not in (comment.author_id, comment.post.author_id):
        raise exceptions.PermissionDenied("Only the comment's author or the post's author can delete it.")
    deleted, _ = Comment.objects.filter(pk=comment.pk).delete()
    if deleted:
        Post.objects.filter(pk=comment.post_id).update(comment_count=_decrement("comment_count"))
