from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.cache import profile_cache_get, profile_cache_set
from accounts.models import Block, Follow, User, is_username
from accounts.serializers import profile_public


def block_exists(a_id: int, b_id: int) -> bool:
    """True when either of the two blocks the other."""
    return bool(blocked_among(user_id=a_id, other_ids=[b_id]))


def blocked_among(*, user_id: int, other_ids: list[int]) -> set[int]:
    """Those of `other_ids` that the user blocked or was blocked by."""
    if not other_ids:
        return set()
    pairs = Block.objects.filter(
        Q(blocker_id=user_id, blocked_id__in=other_ids) | Q(blocked_id=user_id, blocker_id__in=other_ids)
    ).values_list("blocker_id", "blocked_id")
    return {blocked if blocker == user_id else blocker for blocker, blocked in pairs}


def exclude_blocked(queryset: QuerySet, *, user_id: int, field: str) -> QuerySet:
    """The rows whose user `field` is nobody the user blocked or was blocked by (in the
    same query, as subqueries)."""
    return queryset.exclude(**{f"{field}__in": Block.objects.filter(blocker_id=user_id).values("blocked_id")}).exclude(
        **{f"{field}__in": Block.objects.filter(blocked_id=user_id).values("blocker_id")}
    )


def user_get_by_username(*, username: str) -> User | None:
    """The active user with this username, matched case-insensitively."""
    if not is_username(username):
        return None
    return User.objects.filter(username__iexact=username, is_active=True).order_by("id").first()


def is_blocked_by(*, viewer_id: int | None, user_id: int) -> bool:
    """True when `user_id` blocked the viewer: to the viewer, that account does not exist."""
    if viewer_id is None or viewer_id == user_id:
        return False
    return Block.objects.filter(blocker_id=user_id, blocked_id=viewer_id).exists()


def user_visible_by_username(*, username: str, viewer: User) -> User | None:
    """The active user with this username, unless they blocked the viewer (then None, as for
    a name nobody has)."""
    user = user_get_by_username(username=username)
    if user is None or is_blocked_by(viewer_id=viewer.pk, user_id=user.pk):
        return None
    return user


def exclude_blockers_of(queryset: QuerySet, *, viewer_id: int | None, field: str) -> QuerySet:
    """The rows whose user `field` did not block the viewer (one subquery)."""
    if viewer_id is None:
        return queryset
    return queryset.exclude(**{f"{field}__in": Block.objects.filter(blocked_id=viewer_id).values("blocker_id")})


def block_list(*, user: User) -> QuerySet[Block]:
    """The user's blocks, with the blocked people loaded, to be ordered newest first."""
    return Block.objects.filter(blocker_id=user.pk, blocked__is_active=True).select_related("blocked")


def user_profile_public(*, username: str) -> dict | None:
    """The viewer-independent profile of a user, from the cache when it holds it."""
    if not is_username(username):
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
    users = exclude_blockers_of(User.objects.filter(is_active=True), viewer_id=viewer.pk, field="pk")
    if q:
        users = users.filter(username__istartswith=q)
    return users.annotate(is_following=_viewer_follows(viewer))


def follower_list(*, user: User, viewer: User) -> QuerySet[Follow]:
    """Follow rows whose follower follows `user`, with the follower loaded and annotated
    `viewer_follows` (does the viewer follow that follower); nobody who blocked the viewer."""
    follows = Follow.objects.filter(followee_id=user.pk, follower__is_active=True)
    return (
        exclude_blockers_of(follows, viewer_id=viewer.pk, field="follower_id")
        .select_related("follower")
        .annotate(viewer_follows=_viewer_follows(viewer, "follower_id"))
    )


def following_list(*, user: User, viewer: User) -> QuerySet[Follow]:
    """Follow rows of the people `user` follows, with the followee loaded and annotated
    `viewer_follows`; nobody who blocked the viewer."""
    follows = Follow.objects.filter(follower_id=user.pk, followee__is_active=True)
    return (
        exclude_blockers_of(follows, viewer_id=viewer.pk, field="followee_id")
        .select_related("followee")
        .annotate(viewer_follows=_viewer_follows(viewer, "followee_id"))
    )
