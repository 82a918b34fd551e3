"""The explore grid's order and its pages (`GET /api/explore`).

First the posts of the last EXPLORE_WINDOW, most engaging first (likes plus comments),
newest first among equals; then, once those run out, older posts newest first. Each page is
at most two keyset queries (plus one for the page's further images each): the recent part
reads the `post_recent` index over the window and ranks it; the older part walks the
primary key backwards. The cursor carries the window's start, so pages taken minutes apart
neither skip nor repeat a post as it ages out of the window.
"""

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta

from django.db.models import F, Q, QuerySet
from django.utils import timezone
from rest_framework.exceptions import NotFound
from rest_framework.utils.urls import replace_query_param

from core.ids import MAX_ID, is_id
from feed.models import Post

EXPLORE_WINDOW = timedelta(hours=72)
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
INVALID = "Invalid cursor"


def _encode(position: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(text: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise NotFound(INVALID)
    if not isinstance(position, dict) or position.get("p") not in (1, 2) or not is_id(position.get("i")):
        raise NotFound(INVALID)
    since = position.get("t")
    if not isinstance(since, (int, float)) or isinstance(since, bool) or not 0 <= since < 2**40:
        raise NotFound(INVALID)
    score = position.get("s", 0)
    if position["p"] == 1 and not (isinstance(score, int) and not isinstance(score, bool) and 0 <= score < 2**62):
        raise NotFound(INVALID)
    return position


def _page_size(request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return PAGE_SIZE
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4 or int(raw) < 1:
        return PAGE_SIZE
    return min(int(raw), MAX_PAGE_SIZE)


def explore_page(candidates: QuerySet[Post], request) -> tuple[list[Post], str | None]:
    """One page of `candidates` in explore order, and the next page's URL (or None)."""
    size = _page_size(request)
    cursor = request.query_params.get("cursor")
    position = _decode(cursor) if cursor else None
    if position is None:
        since = timezone.now() - EXPLORE_WINDOW
        position = {"p": 1, "t": since.timestamp(), "s": None, "i": None}
    since = datetime.fromtimestamp(position["t"], tz=UTC)

    posts: list[Post] = []
    next_position = None
    if position["p"] == 1:
        recent = candidates.filter(created_at__gte=since).annotate(score=F("like_count") + F("comment_count"))
        if position.get("i") is not None:
            recent = recent.filter(Q(score__lt=position["s"]) | Q(score=position["s"], pk__lt=position["i"]))
        posts = list(recent.order_by("-score", "-pk")[: size + 1])
        if len(posts) > size:
            posts = posts[:size]
            last = posts[-1]
            next_position = {"p": 1, "t": position["t"], "s": last.score, "i": last.pk}  # type: ignore[attr-defined]
        else:
            position = {"p": 2, "t": position["t"], "i": None}
    if position["p"] == 2 and next_position is None:
        room = size - len(posts)
        older = candidates.filter(created_at__lt=since)
        if position.get("i") is not None:
            older = older.filter(pk__lt=position["i"])
        more = list(older.order_by("-pk")[: room + 1])
        if len(more) > room:
            more = more[:room]
            # (a page filled up by recent posts exactly: the older ones start from the top)
            next_position = {"p": 2, "t": position["t"], "i": more[-1].pk if more else MAX_ID}
        posts += more
    url = None
    if next_position is not None:
        url = replace_query_param(request.build_absolute_uri(), "cursor", _encode(next_position))
    return posts, url
