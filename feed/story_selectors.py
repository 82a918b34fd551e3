"""Story reads: the tray, a person's live stories, one story, its viewers.

Every read filters on `expires_at > now`: an expired story leaves every list at once, long
before `prune_stories` deletes it. Each list costs a constant number of queries.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.db.models import Case, Count, Exists, IntegerField, Max, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.models import Follow, User
from accounts.selectors import block_exists, content_visible, exclude_blocked
from core.ids import is_id
from feed.models import Story, StoryView

# The tray lists at most this many people (those with unseen stories and the newest first).
TRAY_MAX = 100

Access = Literal["ok", "blocked", "private"]


def owner_access(*, viewer: User, owner: User) -> Access:
    """May the viewer see the owner's stories: "ok"; "blocked" (a block either way: the
    owner is as if gone, 404, DESIGN 6.6); "private" (403 `private`: the privacy rule of
    accounts.selectors.content_visible says no)."""
    if viewer.pk != owner.pk and block_exists(viewer.pk, owner.pk):
        return "blocked"
    return "ok" if content_visible(viewer=viewer, owner=owner) else "private"


def _live(stories: QuerySet[Story], now: datetime | None = None) -> QuerySet[Story]:
    return stories.filter(expires_at__gt=now or timezone.now())


def _seen_by(viewer: User) -> Exists:
    return Exists(StoryView.objects.filter(story_id=OuterRef("pk"), viewer_id=viewer.pk))


def _with_viewer(stories: QuerySet[Story], viewer: User) -> QuerySet[Story]:
    """Author loaded in the same query; `seen_by_me` as an EXISTS subquery."""
    return stories.select_related("author").annotate(seen_by_me=_seen_by(viewer))


@dataclass(frozen=True)
class TrayEntry:
    user: User
    stories: list[Story]

    @property
    def all_seen(self) -> bool:
        return all(story.seen_by_me for story in self.stories)  # type: ignore[attr-defined]


def story_tray(*, viewer: User, now: datetime | None = None) -> list[TrayEntry]:
    """The viewer's tray: the people they follow with live stories, and the viewer first;
    then those with unseen stories before those seen through, each group newest story
    first. Each entry's stories run oldest first (the order they are watched in).

    Two queries whatever the number of people: one ranks the authors (at most TRAY_MAX),
    one loads their live stories."""
    now = now or timezone.now()
    followed = Follow.objects.filter(follower_id=viewer.pk).values("followee_id")
    live = _live(Story.objects.filter(Q(author_id=viewer.pk) | Q(author_id__in=followed)), now).filter(
        author__is_active=True
    )
    live = exclude_blocked(live, user_id=viewer.pk, field="author_id")
    ranked = (
        live.annotate(seen=_seen_by(viewer))
        .values("author_id")
        .annotate(
            latest=Max("created_at"),
            unseen=Count("pk", filter=Q(seen=False)),
            mine=Case(When(author_id=viewer.pk, then=Value(0)), default=Value(1), output_field=IntegerField()),
        )
        .annotate(
            done=Case(When(unseen=0, then=Value(1)), default=Value(0), output_field=IntegerField()),
        )
        .order_by("mine", "done", "-latest", "author_id")[:TRAY_MAX]
    )
    order = [row["author_id"] for row in ranked]
    if not order:
        return []
    stories = _with_viewer(_live(Story.objects.filter(author_id__in=order), now), viewer).order_by(
        "author_id", "created_at", "id"
    )
    by_author: dict[int, list[Story]] = {}
    authors: dict[int, User] = {}
    for story in stories:
        by_author.setdefault(story.author_id, []).append(story)
        authors[story.author_id] = story.author
    # A story that expired between the two queries may leave someone with none.
    return [TrayEntry(user=authors[a], stories=by_author[a]) for a in order if a in by_author]


def story_list_by_author(*, author: User, viewer: User) -> QuerySet[Story]:
    """The author's live stories, with `seen_by_me`; the caller checks access
    (`owner_access`) and the paginator orders them oldest first."""
    return _with_viewer(_live(Story.objects.filter(author_id=author.pk)), viewer)


def story_get(*, story_id: int, viewer: User) -> Story | None:
    """A live story with its author and `seen_by_me`, or None (missing, expired, or its
    author gone). Access is the caller's to check."""
    if not is_id(story_id):
        return None
    return _with_viewer(_live(Story.objects.filter(pk=story_id, author__is_active=True)), viewer).first()


def story_viewer_list(*, story: Story) -> QuerySet[StoryView]:
    """Who saw the story (its author aside), with each viewer loaded, to be ordered newest
    first by the paginator. Someone on either side of a block with the author is left out."""
    views = StoryView.objects.filter(story_id=story.pk, viewer__is_active=True).exclude(viewer_id=story.author_id)
    return exclude_blocked(views, user_id=story.author_id, field="viewer_id").select_related("viewer")
