"""Feed writes: posts, likes, comments. Each runs in one transaction; counts change with
F() next to the rows they count; notifications go through `notification_create`, which
stores the durable event in the same transaction."""

import logging

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from rest_framework import exceptions

from accounts.cache import profile_cache_invalidate
from accounts.models import User
from accounts.selectors import block_exists, content_access_check, is_blocked_by
from core.images import image_process
from feed import fanout
from feed.hashtags import post_tags_drop, post_tags_set
from feed.models import CAPTION_MAX, COMMENT_MAX, POST_IMAGES_MAX, Comment, Like, Post, PostImage, Save
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


def _caption_checked(caption: str | None) -> str:
    caption = caption or ""
    if len(caption) > CAPTION_MAX:
        raise exceptions.ValidationError({"caption": [f"At most {CAPTION_MAX} characters."]})
    return caption


def post_create(*, author: User, image=None, images: list | None = None, caption: str = "") -> Post:
    """Publishes a post of 1 to POST_IMAGES_MAX images (`images`, in order; `image` for
    one): validates and re-encodes each (see core.images: checked, bounded, stripped of
    metadata, with a thumbnail), stores them, creates the post, bumps the author's
    post_count, notifies users @mentioned in the caption, and after commit hands the post
    to the feed fan-out.

    Raises ValidationError (caption over 2,200 characters, no image, more than ten, one not
    an image: `fields["image"]`) or ImageTooLarge. Nothing is stored when any image fails.
    """
    caption = _caption_checked(caption)
    uploads = list(images) if images is not None else ([image] if image is not None else [])
    if not uploads:
        raise exceptions.ValidationError({"image": ["No image was uploaded."]})
    if len(uploads) > POST_IMAGES_MAX:
        raise exceptions.ValidationError({"image": [f"At most {POST_IMAGES_MAX} images."]})
    # Every image is decoded before anything is stored or locked.
    processed = [image_process(upload=upload, field="image") for upload in uploads]

    first = processed[0]
    post = Post(author=author, caption=caption, image_width=first.width, image_height=first.height)
    extras = [
        PostImage(position=position, width=item.width, height=item.height)
        for position, item in enumerate(processed[1:], start=1)
    ]
    stored: list[str | None] = []
    storage = post.image.storage
    try:
        # Files are written before the transaction (no lock held during I/O) and removed
        # again if anything fails.
        post.image.save(first.image.name, first.image, save=False)
        stored.append(post.image.name)
        post.thumbnail.save(first.thumbnail.name, first.thumbnail, save=False)
        stored.append(post.thumbnail.name)
        for extra, item in zip(extras, processed[1:], strict=True):
            extra.image.save(item.image.name, item.image, save=False)
            stored.append(extra.image.name)
            extra.thumbnail.save(item.thumbnail.name, item.thumbnail, save=False)
            stored.append(extra.thumbnail.name)
        with transaction.atomic():
            post.save()
            for extra in extras:
                extra.post = post
            PostImage.objects.bulk_create(extras)
            post_tags_set(post_id=post.pk, old_caption=None, new_caption=caption)
            User.objects.filter(pk=author.pk).update(post_count=F("post_count") + 1)
            notifications_create(
                actor=author, notices=[(user, "mention") for user in mentioned_users(caption)], post=post
            )
            profile_cache_invalidate(author.username)
            post_id = post.pk
            transaction.on_commit(lambda: fanout.post_created(post_id), robust=True)
    except BaseException:
        _delete_files(storage, [name for name in stored if name])
        raise
    return post


@transaction.atomic
def post_update(*, user: User, post_id: int, caption: str) -> Post:
    """Edits a post's caption (its author only: PermissionDenied otherwise; NotFound when
    missing) and sets `edited_at`. Users @mentioned anew are notified (not those the old
    caption mentioned already). After commit the author's online followers get
    `post.update` with the post. Returns the post as the author sees it."""
    caption = _caption_checked(caption)
    post = Post.objects.select_for_update().select_related("author").filter(pk=post_id).first()
    if post is None or is_blocked_by(viewer_id=user.pk, user_id=post.author_id):
        raise exceptions.NotFound("No such post.")
    if post.author_id != user.pk:
        raise exceptions.PermissionDenied("Only the author can edit a post.")
    previous = post.caption
    post.caption = caption
    post.edited_at = timezone.now()
    post.save(update_fields=["caption", "edited_at"])
    post_tags_set(post_id=post.pk, old_caption=previous, new_caption=caption)
    already = {u.pk for u in mentioned_users(previous)}
    notifications_create(
        actor=user,
        notices=[(mentioned, "mention") for mentioned in mentioned_users(caption) if mentioned.pk not in already],
        post=post,
    )
    transaction.on_commit(lambda: fanout.post_updated(post_id), robust=True)
    return _as_seen_by(post.pk, user)


@transaction.atomic
def post_delete(*, user: User, post_id: int) -> None:
    """Deletes a post (its author only: PermissionDenied otherwise; NotFound when missing),
    with its images, likes, comments, saves and notifications; the image files go after
    commit, and the author's online followers get `post.delete`."""
    post = Post.objects.select_for_update().select_related("author").filter(pk=post_id).first()
    if post is None or is_blocked_by(viewer_id=user.pk, user_id=post.author_id):
        raise exceptions.NotFound("No such post.")
    if post.author_id != user.pk:
        raise exceptions.PermissionDenied("Only the author can delete a post.")
    names = [name for name in (post.image.name, post.thumbnail.name) if name]
    for image_name, thumbnail_name in PostImage.objects.filter(post_id=post.pk).values_list("image", "thumbnail"):
        names += [name for name in (image_name, thumbnail_name) if name]
    storage = post.image.storage
    post_tags_drop(post_id=post.pk)
    Post.objects.filter(pk=post.pk).delete()
    User.objects.filter(pk=post.author_id).update(post_count=_decrement("post_count"))
    profile_cache_invalidate(post.author.username)
    author_id = post.author_id
    transaction.on_commit(lambda: _delete_files(storage, names), robust=True)
    transaction.on_commit(lambda: fanout.post_deleted(author_id=author_id, post_id=post_id), robust=True)


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
    """Withdraws a like; returns the post and whether a like was removed. Idempotent.
    PrivateAccount (403 `private`) for a post the user may no longer see."""
    post = _post_for_write(post_id, user)
    content_access_check(viewer=user, owner=post.author)
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


@transaction.atomic
def save_create(*, user: User, post_id: int) -> tuple[Post, bool]:
    """Saves a post for the user; returns the post (as the user sees it) and whether the
    save is new. Idempotent. PrivateAccount (403 `private`) for a post the user may not
    see. Nobody else is told: saves are private to the saver."""
    post = _post_for_write(post_id, user)
    content_access_check(viewer=user, owner=post.author)
    _, created = Save.objects.get_or_create(user=user, post=post)
    return _as_seen_by(post.pk, user), created


@transaction.atomic
def save_delete(*, user: User, post_id: int) -> tuple[Post, bool]:
    """Removes the user's save of a post; returns the post and whether one was removed.
    Idempotent. PrivateAccount (403 `private`) for a post the user may no longer see (it
    has left their Saved list too)."""
    post = _post_for_write(post_id, user)
    content_access_check(viewer=user, owner=post.author)
    deleted, _ = Save.objects.filter(user=user, post=post).delete()
    return _as_seen_by(post.pk, user), bool(deleted)
