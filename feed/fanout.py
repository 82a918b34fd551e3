"""Live `feed.post`, `post.update`, `post.delete` and `story.new` pushes to the author's
online followers, off the request path.

`post_created`, `post_updated` and `post_deleted` are registered by the post services with
`transaction.on_commit`; each only hands the work to a small thread pool and returns. A
worker loads the post once, serializes it once (`liked_by_me` and `saved_by_me` false: the
frame is the same for everyone, a client keeps its own flags), then walks the followers
that have a websocket seen within settings.PRESENCE_TTL_SECONDS, in chunks by user id,
and publishes one frame per online follower (and to the author's own other tabs). The
audience is approved followers only (Follow rows: a pending request is none), so a
private account's posts reach nobody else. Pushes are best effort (ephemeral, never
replayed): a client that missed one refetches the feed page.
"""

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from accounts.models import Follow, User
from accounts.selectors import exclude_blocked
from accounts.serializers import user_brief
from feed.models import Post, Story
from feed.serializers import post_payload, story_payload
from realtime import presence
from realtime.publish import push_frame

log = logging.getLogger(__name__)

CHUNK_SIZE = 500
MAX_WORKERS = 2

_executor = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="feed-fanout")
_pending: set[Future] = set()
_lock = threading.Lock()


def post_created(post_id: int) -> None:
    """Schedules the `feed.post` fan-out of a committed post and returns at once."""
    _schedule(fan_out, post_id)


def post_updated(post_id: int) -> None:
    """Schedules the `post.update` fan-out of a committed edit and returns at once."""
    _schedule(update_fan_out, post_id)


def post_deleted(*, author_id: int, post_id: int) -> None:
    """Schedules the `post.delete` fan-out of a committed delete and returns at once."""
    _schedule(delete_fan_out, author_id, post_id)


def story_created(story_id: int) -> None:
    """Schedules the `story.new` push of a committed story and returns at once."""
    _schedule(story_fan_out, story_id)


def _schedule(job, *args: int) -> None:
    future = _executor.submit(_run, job, *args)
    with _lock:
        _pending.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future) -> None:
    with _lock:
        _pending.discard(future)


def wait_idle(timeout: float = 10.0) -> bool:
    """Waits until every scheduled fan-out has finished; False on timeout (for tests)."""
    with _lock:
        pending = set(_pending)
    if not pending:
        return True
    _, not_done = wait(pending, timeout=timeout)
    return not not_done


def audience_ids(*, author_id: int, after_id: int = 0, limit: int = CHUNK_SIZE) -> list[int]:
    """Ids (ascending, > after_id, at most `limit`) of the author's followers and the author,
    without anyone either side of a block with the author."""
    followers = Follow.objects.filter(followee_id=author_id).values("follower_id")
    audience = User.objects.filter(Q(pk__in=followers) | Q(pk=author_id), pk__gt=after_id, is_active=True)
    return list(
        exclude_blocked(audience, user_id=author_id, field="pk").order_by("pk").values_list("pk", flat=True)[:limit]
    )


def _push_to_audience(author_id: int, frame: dict) -> int:
    """Pushes the frame to the author's online audience; returns how many users were told.

    The audience is read from the database in chunks by id and each chunk is narrowed to
    who is online with one presence lookup (Redis)."""
    told = 0
    after = 0
    while True:
        ids = audience_ids(author_id=author_id, after_id=after)
        online = sorted(presence.online_among(ids))
        if online:
            push_frame(online, frame)
            told += len(online)
        if len(ids) < CHUNK_SIZE:
            return told
        after = ids[-1]


def fan_out(post_id: int, kind: str = "feed.post") -> int:
    """Publishes the post (`feed.post`, or `post.update` after an edit) to its online
    audience now; returns how many users were told."""
    post = Post.objects.select_related("author").filter(pk=post_id).first()
    if post is None:
        return 0
    return _push_to_audience(post.author_id, {"type": kind, "data": post_payload(post)})


def update_fan_out(post_id: int) -> int:
    return fan_out(post_id, "post.update")


def delete_fan_out(author_id: int, post_id: int) -> int:
    return _push_to_audience(author_id, {"type": "post.delete", "data": {"id": post_id}})


def story_fan_out(story_id: int) -> int:
    """Publishes `story.new` (`{"user", "story"}`, `seen_by_me` false) to the story's
    online audience now, unless it was deleted or expired meanwhile; returns how many
    users were told."""
    story = Story.objects.select_related("author").filter(pk=story_id, expires_at__gt=timezone.now()).first()
    if story is None:
        return 0
    story.seen_by_me = False  # type: ignore[attr-defined]
    data = {"user": user_brief(story.author), "story": story_payload(story)}
    return _push_to_audience(story.author_id, {"type": "story.new", "data": data})


def _run(job, *args: int) -> None:
    close_old_connections()
    try:
        job(*args)
    except Exception:  # noqa: BLE001 - best effort: the feed itself is read from the database
        log.warning("fan-out %s of %s failed", job.__name__, args, exc_info=True)
    finally:
        connection.close()
