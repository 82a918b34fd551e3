"""Story writes: posting, deleting, seen marks, and pruning the expired ones.

A story's image goes through the same checks as a post's (core.images: bounded, decoded,
re-encoded, metadata stripped). Files are written before the transaction and removed after
commit (or after a failed one), never while a lock is held.
"""

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from rest_framework import exceptions

from accounts.models import User
from accounts.selectors import PrivateAccount
from core.images import image_process
from feed import fanout
from feed.models import STORY_LIFETIME_HOURS, Story, StoryView
from feed.story_selectors import owner_access, story_get

log = logging.getLogger(__name__)

# A person has at most this many live stories at once (every list stays bounded).
LIVE_STORIES_MAX = 100
PRUNE_BATCH = 500


def _delete_files(storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001 - an orphaned file is harmless; the next prune retries nothing
            log.warning("could not delete %s", name, exc_info=True)


def story_for_viewer(*, story_id: int, viewer: User) -> Story:
    """The live story as the viewer sees it. NotFound when it is missing, expired, or
    either blocks the other; PrivateAccount (403 `private`) when its author's stories are
    not for the viewer."""
    story = story_get(story_id=story_id, viewer=viewer)
    if story is None:
        raise exceptions.NotFound("No such story.")
    access = owner_access(viewer=viewer, owner=story.author)
    if access == "blocked":
        raise exceptions.NotFound("No such story.")
    if access == "private":
        raise PrivateAccount()
    return story


def story_create(*, author: User, image) -> Story:
    """Posts a story for STORY_LIFETIME_HOURS: validates and re-encodes the image (see
    core.images), stores it, and after commit tells the author's online followers
    (`story.new`, ephemeral).

    Raises ValidationError (not an image; more than LIVE_STORIES_MAX live stories) or
    ImageTooLarge.
    """
    processed = image_process(upload=image, field="image")
    now = timezone.now()
    story = Story(author=author, created_at=now, expires_at=now + timedelta(hours=STORY_LIFETIME_HOURS))
    story.image.save(processed.image.name, processed.image, save=False)
    try:
        with transaction.atomic():
            # The author's row lock serialises their concurrent posts, so the cap holds.
            User.objects.select_for_update().filter(pk=author.pk).values_list("pk").first()
            if Story.objects.filter(author_id=author.pk, expires_at__gt=now).count() >= LIVE_STORIES_MAX:
                raise exceptions.ValidationError(
                    {"image": [f"At most {LIVE_STORIES_MAX} stories can be live at once."]}
                )
            story.save()
            story_id = story.pk
            transaction.on_commit(lambda: fanout.story_created(story_id), robust=True)
    except BaseException:
        _delete_files(story.image.storage, [story.image.name] if story.image.name else [])
        raise
    story.seen_by_me = False  # type: ignore[attr-defined]
    return story


@transaction.atomic
def story_delete(*, user: User, story_id: int) -> None:
    """Deletes a story: its author only (PermissionDenied for anyone else who may see it;
    NotFound or PrivateAccount as `story_for_viewer`). The file goes after commit."""
    story = story_for_viewer(story_id=story_id, viewer=user)
    if story.author_id != user.pk:
        raise exceptions.PermissionDenied("Only the author can delete a story.")
    name = story.image.name
    storage = story.image.storage
    Story.objects.filter(pk=story.pk).delete()
    if name:
        transaction.on_commit(lambda: _delete_files(storage, [name]), robust=True)


def story_mark_seen(*, viewer: User, story_id: int) -> tuple[Story, bool]:
    """Marks a live story seen by the viewer; returns the story (as the viewer now sees it)
    and whether the mark is new. Idempotent. Refuses as `story_for_viewer`."""
    story = story_for_viewer(story_id=story_id, viewer=viewer)
    with transaction.atomic():
        _, created = StoryView.objects.get_or_create(story_id=story.pk, viewer_id=viewer.pk)
    story.seen_by_me = True  # type: ignore[attr-defined]
    return story, created


def stories_prune(*, now: datetime | None = None, batch: int = PRUNE_BATCH) -> int:
    """Deletes every story that expired by `now` (with its seen marks), and its file after
    each batch commits; returns how many rows this call deleted.

    Safe to run from cron, and twice at once: on PostgreSQL each batch locks its rows with
    SKIP LOCKED, so two runs share the work instead of waiting on each other; a row another
    run deleted first is simply not counted; a file already gone is no error.
    """
    now = now or timezone.now()
    skip_locked = connection.features.has_select_for_update_skip_locked
    storage = Story._meta.get_field("image").storage  # type: ignore[attr-defined]
    deleted_total = 0
    while True:
        with transaction.atomic():
            expired = Story.objects.filter(expires_at__lte=now).order_by("expires_at", "id")
            if skip_locked:
                expired = expired.select_for_update(skip_locked=True)
            rows = list(expired.values_list("pk", "image")[:batch])
            if not rows:
                return deleted_total
            _, per_model = Story.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
            deleted_total += per_model.get(Story._meta.label, 0)
            names = [name for _, name in rows if name]
            transaction.on_commit(lambda names=names: _delete_files(storage, names), robust=True)
        if len(rows) < batch:
            return deleted_total
