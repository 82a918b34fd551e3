import re

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.cache import profile_cache_get, profile_cache_set
from accounts.models import Block, Follow, User
from accounts.serializers import profile_public

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.]{1,30}$")


def block_exists(a_id: int, b_id: int) -> bool:
    """True when either of the two blocks the other."""
    return Block.objects.filter(Q(blocker_id=a_id, blocked_id=b_id) | Q(blocker_id=b_id, blocked_id=a_id)).exists()


def user_get_by_username(*, username: str) -> User | None:
    """The active user with this username, matched case-insensitively."""
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        return None
    return User.objects.filter(username__iexact=username, is_active=True).order_by("id").first()


def user_profile_public(*, username: str) -> dict | None:
    """The viewer-independent profile of a user, from the cache when it holds it."""
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        return None
    cached, version = profile_cache_get(username)
    if cached is not None:
        return cached
    user = user_get_by_username(username=username)
    if user is None:
        return None
    data = profile_public(user)
    profile_cache_set(username, version, data)
    return data


def follow_exists(*, follower_id: int, followee_id: int) -> bool:
    if follower_id == followee_id:
        return False
    return Follow.objects.filter(follower_id=follower_id, followee_id=followee_id).exists()


def _viewer_follows(viewer: User | None, ref: str = "pk") -> Exists | None:
    if viewer is None or not viewer.is_authenticated:
        return None
    return Exists(Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef(ref)))


def user_search(*, viewer: User, q: str) -> QuerySet[User]:
    """Active users whose username starts with `q` (case-insensitive), each annotated with
    `is_following` for the viewer."""
    users = User.objects.filter(is_active=True)
    if q:
        users = users.filter(username__istartswith=q)
    return users.annotate(is_following=_viewer_follows(viewer))


def follower_list(*, user: User, viewer: User) -> QuerySet[Follow]:
    """Follow rows whose follower follows `user`, with the follower loaded and annotated
    `viewer_follows` (does the viewer follow that follower)."""
    return (
        Follow.objects.filter(followee_id=user.pk, follower__is_active=True)
        .select_related("follower")
        .annotate(viewer_follows=_viewer_follows(viewer, "follower_id"))
    )


def following_list(*, user: User, viewer: User) -> QuerySet[Follow]:
    """Follow rows of the people `user` follows, with the followee loaded and annotated
    `viewer_follows`."""
    return (
        Follow.objects.filter(follower_id=user.pk, followee__is_active=True)
        .select_related("followee")
        .annotate(viewer_follows=_viewer_follows(viewer, "followee_id"))
    )
