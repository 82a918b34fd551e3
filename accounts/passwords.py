"""Password writes: change (old password required) and reset by an emailed link.

A new password passes Django's validators (AUTH_PASSWORD_VALIDATORS: length, similarity to
the account's names, the common-password list, not all digits). A change revokes every other
credential of the person; a reset, which nobody signed in asked for, revokes them all.

Reset links carry Django's `default_token_generator` token, which stops working once the
password (or the last login) changes and after PASSWORD_RESET_TIMEOUT. The email goes out
from a small thread pool, so the answer (always 202) takes as long whether or not the
address has an account.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework import exceptions

from accounts.credentials import credentials_revoke_all
from accounts.mail import send_later
from accounts.models import User
from accounts.selectors import user_get_by_email


class InvalidResetLink(exceptions.APIException):
    status_code = 400
    default_detail = "This password reset link is invalid or has expired; ask for a new one."
    default_code = "invalid_token"


def _check_new_password(user: User, password: str) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise exceptions.ValidationError({"new_password": list(exc.messages)}) from exc


@transaction.atomic
def password_change(*, user: User, old_password: str, new_password: str, keep_digest: str | None) -> User:
    """Sets a new password after checking the old one, and revokes every credential of the
    user but `keep_digest` (the one the change came with). Raises ValidationError for a
    wrong old password (field old_password) or a new one the validators refuse."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.check_password(old_password):
        raise exceptions.ValidationError({"old_password": ["Wrong password."]})
    _check_new_password(user, new_password)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    credentials_revoke_all(user=user, keep_digest=keep_digest)
    return user


def reset_link(user: User, *, base_url: str) -> str:
    query = urlencode(
        {"uid": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)}
    )
    return f"{base_url.rstrip('/')}/reset-password?{query}"


def password_reset_request(*, email: str, base_url: str) -> None:
    """Emails a reset link to the active account with this address, if there is one; says
    nothing either way. The mail is sent off the caller's path (accounts.mail)."""
    user = user_get_by_email(email=email)
    if user is None or not user.email or not user.has_usable_password():
        return
    link = reset_link(user, base_url=settings.PUBLIC_URL or base_url)
    body = (
        f"Someone asked to reset the password of the Instaclone account {user.username}.\n\n"
        f"To choose a new password, open this link:\n{link}\n\n"
        "If that was not you, ignore this mail: your password stays as it is."
    )
    send_later(to=user.email, subject="Reset your Instaclone password", body=body)


def _user_of_link(uid: str) -> User | None:
    try:
        pk = int(urlsafe_base64_decode(uid).decode())
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    return User.objects.filter(pk=pk, is_active=True).first()


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    """Sets the new password of the link's account and revokes all its credentials.
    Raises InvalidResetLink for a link that is malformed, used or expired, and
    ValidationError for a password the validators refuse."""
    user = _user_of_link(uid)
    if user is None or not default_token_generator.check_token(user, token):
        raise InvalidResetLink()
    user = User.objects.select_for_update().get(pk=user.pk)
    _check_new_password(user, new_password)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    credentials_revoke_all(user=user)
    return user
