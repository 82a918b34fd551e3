"""Account writes: registration, tokens and sessions, profile edits, follows.

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
from accounts.models import USERNAME_MESSAGE, ApiToken, Block, Follow, User, is_username
from accounts.selectors import block_exists
from accounts.signals import follow_created
from core.crypto import digest
from core.images import image_process
from realtime.publish import credential_group, publish

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
            owner = User.objects.filter(email__iexact=email).order_by("id").first()
            user.email = None if owner is not None else email
            user.save()
            if owner is not None:
                notice = _taken_address_notice(owner=owner, new_username=username)
                address = owner.email or email  # found by it, so never empty
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


@transaction.atomic
def token_create(*, user: User) -> str:
    """Issues a new API token for the user and returns its key (only its digest is kept)."""
    key = ApiToken.new_key()
    ApiToken.objects.create(user=user, digest=digest(key))
    return key


@transaction.atomic
def user_logout(*, user: User, token_key: str | None, session_key: str | None) -> None:
    """Revokes the token (if any) and, after commit, tells every socket opened with that
    token or that session to close (`auth.revoked` to its credential group). Ending the
    session itself is the caller's (it owns the request)."""
    sends = []
    if token_key:
        token_digest = digest(token_key)
        ApiToken.objects.filter(user=user, digest=token_digest).delete()
        sends.append((credential_group(token_digest), {"type": "auth.revoked"}))
    if session_key:
        sends.append((credential_group(digest(session_key)), {"type": "auth.revoked"}))
    if sends:
        transaction.on_commit(lambda: publish(sends), robust=True)


def profile_update(
    *, user: User, full_name: str | None = None, bio: str | None = None, avatar=None, clear_avatar: bool = False
) -> User:
    """Updates the given profile fields and returns the fresh user.

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


@transaction.atomic
def follow_create(*, follower: User, followee: User) -> bool:
    """Makes `follower` follow `followee`; returns True when the follow is new.

    Idempotent: following again changes nothing. Raises ValidationError for a self-follow
    and PermissionDenied when either blocks the other. A new follow bumps both counts and
    announces itself (`accounts.signals.follow_created`: the followee is notified). The instances' counts are refreshed.
    """
    if follower.pk == followee.pk:
        raise exceptions.ValidationError({"username": ["You cannot follow yourself."]})
    if block_exists(follower.pk, followee.pk):
        raise exceptions.PermissionDenied("You cannot follow this user.")
    _, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    if created:
        User.objects.filter(pk=follower.pk).update(following_count=F("following_count") + 1)
        User.objects.filter(pk=followee.pk).update(follower_count=F("follower_count") + 1)
        follow_created.send(sender=Follow, follower=follower, followee=followee)
        profile_cache_invalidate(follower.username, followee.username)
    _refresh_counts(follower, followee)
    return created


@transaction.atomic
def follow_delete(*, follower: User, followee: User) -> bool:
    """Removes the follow if there is one; returns True when one was removed. Idempotent."""
    deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    if deleted:
        User.objects.filter(pk=follower.pk).update(following_count=Greatest(F("following_count") - 1, 0))
        User.objects.filter(pk=followee.pk).update(follower_count=Greatest(F("follower_count") - 1, 0))
        profile_cache_invalidate(follower.username, followee.username)
    _refresh_counts(follower, followee)
    return bool(deleted)


@transaction.atomic
def block_create(*, blocker: User, blocked: User) -> bool:
    """`blocker` blocks `blocked`; returns True when the block is new. Idempotent.

    The follows between the two go, both ways (counts and cached profiles with them). From
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
