"""Account writes: registration, profile edits, follows (credentials: accounts.credentials).

Counts (follower_count, following_count) change with F() in the transaction that adds or
removes the Follow row, and the cached public profiles of both users are invalidated.
"""

import logging

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from rest_framework import exceptions

from accounts.cache import profile_cache_invalidate
from accounts.mail import send_later
from accounts.models import USERNAME_MESSAGE, Block, Follow, FollowRequest, User, is_username
from accounts.selectors import block_exists, users_with_email
from accounts.signals import follow_created, follow_requested
from core.images import image_process

log = logging.getLogger(__name__)

BIO_MAX = 150
FULL_NAME_MAX = 100


def _validate_registration(*, username: str, email: str, password: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not is_username(username):
        errors["username"] = [USERNAME_MESSAGE]
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["This username is taken."]
    # Whether the address has an account is never said (user_register).
    try:
        validate_email(email)
    except DjangoValidationError:
        errors["email"] = ["Enter a valid email address."]
    try:
        validate_password(password, user=User(username=username, email=email))
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    return errors


def user_register(*, username: str, email: str, password: str) -> User:
    """Creates an active user with an Argon2-hashed password.

    Raises ValidationError (fields username/email/password) for a malformed or taken
    username (case-insensitively; usernames are public anyway), a malformed email, or a
    password Django's validators refuse. Whether the email has an account already is never
    told, in the answer or its timing, as a password reset does not tell: with a taken
    address the account is made all the same, without an address, and the address's owner
    is told by email (off the request path) that someone signed up with it.
    """
    email = User.objects.normalize_email((email or "").strip())
    errors = _validate_registration(username=username, email=email, password=password)
    if errors:
        raise exceptions.ValidationError(errors)
    user = User(username=username)
    user.set_password(password)
    try:
        with transaction.atomic():
            owner = users_with_email(email).order_by("id").first()
            user.email = None if owner is not None else email
            user.save()
            if owner is not None:
                notice = _taken_address_notice(owner=owner, new_username=username)
                address = owner.email or email  # found by this address: never empty
                transaction.on_commit(lambda: send_later(to=address, **notice), robust=True)
    except IntegrityError:
        # A concurrent registration took the name (or the address) between the check and the
        # insert; the address is not named.
        raise exceptions.ValidationError({"username": ["This username is taken."]})
    return user


def _taken_address_notice(*, owner: User, new_username: str) -> dict[str, str]:
    return {
        "subject": "Someone signed up with your email address",
        "body": (
            f"Someone signed up on Instaclone as @{new_username} with this email address, which "
            f"already belongs to your account @{owner.username}. The new account was made without "
            "an email address.\n\nIf it was you: you can sign in as "
            f"@{owner.username} (or reset its password). If not, nothing of yours changed."
        ),
    }


def profile_update(
    *,
    user: User,
    full_name: str | None = None,
    bio: str | None = None,
    avatar=None,
    clear_avatar: bool = False,
    is_private: bool | None = None,
) -> User:
    """Updates the given profile fields and returns the fresh user.

    `is_private` turns the account private or public; making it public accepts every
    pending follow request (each requester follows and hears `follow_accept`).

    `avatar` is an uploaded file, validated and re-encoded like a post image (ValidationError
    or ImageTooLarge otherwise); `clear_avatar` removes the avatar. The replaced avatar file
    is deleted after commit, and the cached public profile is invalidated.
    """
    errors: dict[str, list[str]] = {}
    if full_name is not None and len(full_name) > FULL_NAME_MAX:
        errors["full_name"] = [f"At most {FULL_NAME_MAX} characters."]
    if bio is not None and len(bio) > BIO_MAX:
        errors["bio"] = [f"At most {BIO_MAX} characters."]
    if errors:
        raise exceptions.ValidationError(errors)
    # Decoding happens before the transaction: no lock is held while Pillow works.
    processed = image_process(upload=avatar, field="avatar") if avatar is not None else None

    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        update_fields = []
        if full_name is not None:
            user.full_name = full_name
            update_fields.append("full_name")
        if bio is not None:
            user.bio = bio
            update_fields.append("bio")
        if is_private is not None and is_private != user.is_private:
            user.is_private = is_private
            update_fields.append("is_private")
        old_avatar = user.avatar.name if user.avatar else None
        if processed is not None:
            user.avatar.save(processed.thumbnail.name, processed.thumbnail, save=False)
            update_fields.append("avatar")
        elif clear_avatar and user.avatar:
            user.avatar = ""
            update_fields.append("avatar")
        if update_fields:
            user.save(update_fields=update_fields)
            profile_cache_invalidate(user.username)
        if "is_private" in update_fields and not user.is_private:
            for pending in FollowRequest.objects.filter(target=user).select_related("requester").order_by("id"):
                _accept(pending, owner=user)
            _refresh_counts(user)
        if old_avatar and "avatar" in update_fields:
            storage = user.avatar.storage
            transaction.on_commit(lambda: _delete_file(storage, old_avatar), robust=True)
    return user


def _delete_file(storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:  # noqa: BLE001 - an orphaned file is harmless
        log.warning("could not delete %s", name, exc_info=True)


def _refresh_counts(*users: User) -> None:
    fresh = {
        u.pk: u
        for u in User.objects.filter(pk__in=[u.pk for u in users]).only(
            "follower_count", "following_count", "post_count"
        )
    }
    for user in users:
        if user.pk in fresh:
            user.follower_count = fresh[user.pk].follower_count
            user.following_count = fresh[user.pk].following_count
            user.post_count = fresh[user.pk].post_count


def _lock_pair(a: User, b: User) -> None:
    """Locks both users' rows in id order: two follow writes between the same people (A
    follows B while B follows A) take their counter locks in one order, so they cannot
    deadlock, and a follow waits for a privacy change of its followee in flight."""
    list(User.objects.select_for_update(no_key=True).filter(pk__in=[a.pk, b.pk]).order_by("pk").values_list("pk"))


def _follow_insert(*, follower: User, followee: User, accepted: bool) -> bool:
    _, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    if created:
        User.objects.filter(pk=follower.pk).update(following_count=F("following_count") + 1)
        User.objects.filter(pk=followee.pk).update(follower_count=F("follower_count") + 1)
        follow_created.send(sender=Follow, follower=follower, followee=followee, accepted=accepted)
        profile_cache_invalidate(follower.username, followee.username)
    return created


def _check_may_follow(follower: User, followee: User) -> None:
    if follower.pk == followee.pk:
        raise exceptions.ValidationError({"username": ["You cannot follow yourself."]})
    if block_exists(follower.pk, followee.pk):
        raise exceptions.PermissionDenied("You cannot follow this user.")


@transaction.atomic
def follow_create(*, follower: User, followee: User) -> bool:
    """Makes `follower` follow `followee` at once, whatever the account's privacy; returns
    True when the follow is new. The REST door goes through `follow_start`, which asks a
    private account first; this is the direct path (and what accepting a request does).

    Idempotent: following again changes nothing. Raises ValidationError for a self-follow
    and PermissionDenied when either blocks the other. A new follow bumps both counts and
    announces itself (`accounts.signals.follow_created`: the followee is notified). The instances' counts are refreshed.
    """
    _check_may_follow(follower, followee)
    _lock_pair(follower, followee)
    created = _follow_insert(follower=follower, followee=followee, accepted=False)
    FollowRequest.objects.filter(requester=follower, target=followee).delete()
    _refresh_counts(follower, followee)
    return created


FOLLOWING = "following"
REQUESTED = "requested"


@transaction.atomic
def follow_start(*, follower: User, followee: User) -> tuple[str, bool]:
    """Follows a public account, or asks to follow a private one. Returns `(status, new)`:
    status "following" or "requested", and whether anything was created (a repeat is
    idempotent). Someone who follows already stays following. A new request notifies the
    owner (`accounts.signals.follow_requested`: verb `follow_request`).

    ValidationError for a self-follow, PermissionDenied when either blocks the other."""
    _check_may_follow(follower, followee)
    _lock_pair(follower, followee)
    is_private = User.objects.filter(pk=followee.pk).values_list("is_private", flat=True).first()
    if not is_private or Follow.objects.filter(follower=follower, followee=followee).exists():
        created = _follow_insert(follower=follower, followee=followee, accepted=False)
        _refresh_counts(follower, followee)
        return FOLLOWING, created
    _, created = FollowRequest.objects.get_or_create(requester=follower, target=followee)
    if created:
        follow_requested.send(sender=FollowRequest, requester=follower, target=followee)
    return REQUESTED, created


@transaction.atomic
def follow_delete(*, follower: User, followee: User) -> bool:
    """Removes the follow, or withdraws the pending request, if there is one; returns True
    when something was removed. Idempotent."""
    _lock_pair(follower, followee)
    withdrawn, _ = FollowRequest.objects.filter(requester=follower, target=followee).delete()
    deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    if deleted:
        User.objects.filter(pk=follower.pk).update(following_count=Greatest(F("following_count") - 1, 0))
        User.objects.filter(pk=followee.pk).update(follower_count=Greatest(F("follower_count") - 1, 0))
        profile_cache_invalidate(follower.username, followee.username)
    _refresh_counts(follower, followee)
    return bool(deleted or withdrawn)


def _pending_for_owner(*, owner: User, request_id: int) -> FollowRequest:
    pending = (
        FollowRequest.objects.select_for_update(of=("self",))
        .select_related("requester")
        .filter(pk=request_id, target_id=owner.pk)
        .first()
    )
    if pending is None:
        raise exceptions.NotFound("No such follow request.")
    return pending


def _accept(pending: FollowRequest, *, owner: User) -> None:
    FollowRequest.objects.filter(pk=pending.pk).delete()
    if not block_exists(owner.pk, pending.requester_id):
        _follow_insert(follower=pending.requester, followee=owner, accepted=True)


@transaction.atomic
def follow_request_accept(*, owner: User, request_id: int) -> User:
    """Accepts a request to follow `owner` (theirs only: NotFound for anyone else's or a
    missing one): the requester follows, and hears `follow_accept`. Returns the requester."""
    pending = _pending_for_owner(owner=owner, request_id=request_id)
    _lock_pair(pending.requester, owner)
    _accept(pending, owner=owner)
    _refresh_counts(owner)
    return pending.requester


@transaction.atomic
def follow_request_decline(*, owner: User, request_id: int) -> None:
    """Declines (deletes) a request to follow `owner`; NotFound for anyone else's."""
    pending = _pending_for_owner(owner=owner, request_id=request_id)
    FollowRequest.objects.filter(pk=pending.pk).delete()


@transaction.atomic
def block_create(*, blocker: User, blocked: User) -> bool:
    """`blocker` blocks `blocked`; returns True when the block is new. Idempotent.

    The follows and follow requests between the two go, both ways (counts and cached
    profiles with them; follow_delete withdraws a request as it unfollows). From
    then on the blocker's account looks absent to the blocked person (the selectors'
    `is_blocked_by`), and neither can follow, like, comment on, mention or message the
    other (`block_exists`). Raises ValidationError for a self-block.
    """
    if blocker.pk == blocked.pk:
        raise exceptions.ValidationError({"username": ["You cannot block yourself."]})
    _, created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
    if created:
        follow_delete(follower=blocker, followee=blocked)
        follow_delete(follower=blocked, followee=blocker)
    _refresh_counts(blocker, blocked)
    return created


@transaction.atomic
def block_delete(*, blocker: User, blocked: User) -> bool:
    """Lifts the block if there is one; returns True when one was lifted. Idempotent. The
    follows it removed stay removed."""
    deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
    return bool(deleted)
