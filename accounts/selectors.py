from django.db.models import Exists, OuterRef, Q, QuerySet
from rest_framework import exceptions, status

from accounts.cache import profile_cache_get, profile_cache_set
from accounts.models import Block, Follow, FollowRequest, User, is_username
from accounts.serializers import profile_public
from core.crypto import keyed_hashes


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


class PrivateAccount(exceptions.PermissionDenied):
    """403 `private`: the owner's content is for their approved followers."""

    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "This account is private."
    default_code = "private"


# The privacy rule, the one copy. May `viewer` see `owner`'s content (posts, their images,
# comments and likes, stories, follower and following lists)? Yes when the viewer is the
# owner; otherwise only with no block either way, and, for a private account, only when
# the viewer follows it (an approved follow: a pending request is not a Follow row).
# `content_visible` answers it for one owner, `content_visible_filter` for the rows of a
# queryset in the same SQL; every door (REST, live pushes, search, media) uses one of them.


def content_visible(*, viewer: User | None, owner: User) -> bool:
    """True when `viewer` may see `owner`'s content (see the rule above). `owner` needs
    `pk` and `is_private`; an anonymous viewer sees public accounts only."""
    viewer_id = viewer.pk if viewer is not None and viewer.is_authenticated else None
    if viewer_id == owner.pk:
        return True
    if viewer_id is None:
        return not owner.is_private
    if block_exists(viewer_id, owner.pk):
        return False
    return not owner.is_private or follow_exists(follower_id=viewer_id, followee_id=owner.pk)


def content_access_check(*, viewer: User | None, owner: User) -> None:
    """Raises PrivateAccount (403 `private`) unless `viewer` may see `owner`'s content."""
    if not content_visible(viewer=viewer, owner=owner):
        raise PrivateAccount()


def content_visible_filter(queryset: QuerySet, *, viewer: User | None, field: str) -> QuerySet:
    """The rows of `queryset` whose owner (the user foreign key `field`, e.g. "author") the
    viewer may see, by the same rule as `content_visible`, as subqueries of one query."""
    viewer_id = viewer.pk if viewer is not None and viewer.is_authenticated else None
    if viewer_id is None:
        return queryset.filter(**{f"{field}__is_private": False})
    followed = Follow.objects.filter(follower_id=viewer_id).values("followee_id")
    visible = (
        Q(**{f"{field}_id": viewer_id}) | Q(**{f"{field}__is_private": False}) | Q(**{f"{field}_id__in": followed})
    )
    return exclude_blocked(queryset.filter(visible), user_id=viewer_id, field=f"{field}_id")


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


def follow_requested(*, requester_id: int, target_id: int) -> bool:
    return FollowRequest.objects.filter(requester_id=requester_id, target_id=target_id).exists()


def follow_status(*, viewer: User, owner_id: int) -> tuple[bool, bool]:
    """`(is_following, requested)` of the viewer towards `owner_id`, in one query."""
    if viewer.pk == owner_id:
        return False, False
    row = User.objects.filter(pk=owner_id).annotate(
        f=Exists(Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef("pk"))),
        r=Exists(FollowRequest.objects.filter(requester_id=viewer.pk, target_id=OuterRef("pk"))),
    )
    found = row.values_list("f", "r").first()
    return (bool(found[0]), bool(found[1])) if found else (False, False)


def _viewer_follows(viewer: User | None, ref: str = "pk") -> Exists | None:
    if viewer is None or not viewer.is_authenticated:
        return None
    return Exists(Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef(ref)))


def _viewer_requested(viewer: User | None, ref: str = "pk") -> Exists | None:
    if viewer is None or not viewer.is_authenticated:
        return None
    return Exists(FollowRequest.objects.filter(requester_id=viewer.pk, target_id=OuterRef(ref)))


def user_search(*, viewer: User, q: str) -> QuerySet[User]:
    """Active users whose username starts with `q` (case-insensitive), each annotated with
    `is_following` and `follow_requested` for the viewer. Profiles only: a private
    account is found, its content is not. Nobody who blocked the viewer."""
    users = exclude_blockers_of(User.objects.filter(is_active=True), viewer_id=viewer.pk, field="pk")
    if q:
        users = users.filter(username__istartswith=q)
    return users.annotate(is_following=_viewer_follows(viewer), follow_requested=_viewer_requested(viewer))


def follow_request_list(*, owner: User) -> QuerySet[FollowRequest]:
    """Pending requests to follow `owner`, with the requester loaded, to be ordered newest
    first by the paginator."""
    return FollowRequest.objects.filter(target_id=owner.pk, requester__is_active=True).select_related("requester")


def follower_list(*, user: User, viewer: User) -> QuerySet[Follow]:
    """Follow rows whose follower follows `user`, with the follower loaded and annotated
    `viewer_follows` (does the viewer follow that follower); nobody who blocked the viewer."""
    follows = Follow.objects.filter(followee_id=user.pk, follower__is_active=True)
    return (
        exclude_blockers_of(follows, viewer_id=viewer.pk, field="follower_id")
        .select_related("follower")
        .annotate(
            viewer_follows=_viewer_follows(viewer, "follower_id"),
            viewer_requested=_viewer_requested(viewer, "follower_id"),
        )
    )


def following_list(*, user: User, viewer: User) -> QuerySet[Follow]:
    """Follow rows of the people `user` follows, with the followee loaded and annotated
    `viewer_follows`; nobody who blocked the viewer."""
    follows = Follow.objects.filter(follower_id=user.pk, followee__is_active=True)
    return (
        exclude_blockers_of(follows, viewer_id=viewer.pk, field="followee_id")
        .select_related("followee")
        .annotate(
            viewer_follows=_viewer_follows(viewer, "followee_id"),
            viewer_requested=_viewer_requested(viewer, "followee_id"),
        )
    )


def user_get_by_email(*, email: str) -> User | None:
    """The active user with this email address (case-insensitively), or None."""
    if not isinstance(email, str) or not email.strip() or len(email) > 254:
        return None
    return users_with_email(email).filter(is_active=True).order_by("id").first()


def users_with_email(email: str) -> QuerySet[User]:
    """The users with this address, casefolded (by its keyed hash under every key)."""
    return User.objects.filter(email_hash__in=keyed_hashes(email.strip().casefold()))
