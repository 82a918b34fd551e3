"""`#tags` in captions and comments: the one parser, and the tag rows of a post.

A tag is `#` then 1 to 100 letters, digits or underscores, with no letter, digit,
underscore, `#` or `&` right before the `#` (so `a#b` and `&#39;` tag nothing); names are
compared lower-case (`#Lake` is `#lake`). A caption's tags index its post (the tag page,
`post_count`); a comment's are links only.
"""

import re

from django.db.models import F
from django.db.models.functions import Greatest

from feed.models import TAG_MAX, Hashtag, PostHashtag

TAG_RE = re.compile(rf"(?<![\w#&])#(\w{{1,{TAG_MAX}}})(?!\w)")
NAME_RE = re.compile(rf"\w{{1,{TAG_MAX}}}")


def tag_names(text: str | None) -> list[str]:
    """The tags of a text, lower-case, each once, in order of appearance."""
    seen: dict[str, None] = {}
    for name in TAG_RE.findall(text or ""):
        seen.setdefault(name.lower(), None)
    return list(seen)


def is_tag_name(value) -> bool:
    """True for a string that can be a tag's name (without the `#`)."""
    return isinstance(value, str) and NAME_RE.fullmatch(value) is not None


def post_tags_set(*, post_id: int, old_caption: str | None, new_caption: str) -> None:
    """Makes the post's tag rows follow its caption (in the caller's transaction): tags
    added get a row and one more post in their count, tags dropped lose both. Counts
    change in name order, one UPDATE each way, so two writers never lock tags in opposite
    orders."""
    old = set(tag_names(old_caption))
    new = set(tag_names(new_caption))
    added, dropped = sorted(new - old), sorted(old - new)
    if added:
        Hashtag.objects.bulk_create([Hashtag(name=name) for name in added], ignore_conflicts=True)
        tags = list(Hashtag.objects.filter(name__in=added).order_by("name").values_list("pk", flat=True))
        PostHashtag.objects.bulk_create([PostHashtag(hashtag_id=pk, post_id=post_id) for pk in tags])
        Hashtag.objects.filter(pk__in=tags).update(post_count=F("post_count") + 1)
    if dropped:
        tags = list(Hashtag.objects.filter(name__in=dropped).order_by("name").values_list("pk", flat=True))
        PostHashtag.objects.filter(post_id=post_id, hashtag_id__in=tags).delete()
        Hashtag.objects.filter(pk__in=tags).update(post_count=Greatest(F("post_count") - 1, 0))


def post_tags_drop(*, post_id: int) -> None:
    """Takes a post about to be deleted out of its tags' counts (its rows go with it)."""
    tags = list(PostHashtag.objects.filter(post_id=post_id).values_list("hashtag_id", flat=True))
    if tags:
        Hashtag.objects.filter(pk__in=sorted(tags)).update(post_count=Greatest(F("post_count") - 1, 0))
