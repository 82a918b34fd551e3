from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from accounts.models import ApiToken, User
from core.crypto import digest
from realtime import pg
from realtime.db import database_call


def user_for_token(key: str):
    """The active user a token key belongs to, or None."""
    if not key or len(key) > 128:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=digest(key)).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


# The handshake's query, on the event loop (realtime.pg): the active users of some tokens.
TOKEN_USERS_SQL = (
    f"SELECT t.digest, u.id, u.username, u.full_name, u.avatar FROM {ApiToken._meta.db_table} t"
    f" JOIN {User._meta.db_table} u ON u.id = t.user_id WHERE t.digest = ANY(%s) AND u.is_active"
)


def _socket_user(user_id: int, username: str, full_name: str, avatar: str) -> User:
    """The user of a socket, from the handshake's row: what the gateway reads of a user
    (its id and brief), without loading the rest."""
    user = User(id=user_id, username=username, full_name=full_name, avatar=avatar or "", is_active=True)
    user._state.adding = False
    user._state.db = "default"
    return user


def _users_for_digests(digests: list[str]) -> dict[str, User]:
    tokens = ApiToken.objects.filter(digest__in=digests, user__is_active=True).select_related("user")
    return {token.digest: token.user for token in tokens}


class ApiTokenStore:
    """The tokens as the websocket handshake asks about them (realtime.auth.TokenStore),
    wired in asgi.py."""

    async def users_for_tokens(self, digests: list[str]) -> dict[str, User]:
        if not pg.available():
            return await database_call(_users_for_digests)(digests)
        rows = await pg.fetch(TOKEN_USERS_SQL, [digests])
        return {row[0]: _socket_user(*row[1:]) for row in rows}

    def valid_tokens(self, pairs: list[tuple[str, int]]) -> set[str]:
        wanted = dict(pairs)
        found = ApiToken.objects.filter(digest__in=list(wanted), user__is_active=True).values_list("digest", "user_id")
        return {digest for digest, user_id in found if wanted.get(digest) == user_id}


class TokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>`. Token requests need no CSRF token."""

    keyword = "Token"

    def authenticate(self, request):
        auth = authentication.get_authorization_header(request).split()
        if not auth or auth[0].lower() != self.keyword.lower().encode():
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            key = auth[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from exc
        user = user_for_token(key)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        return (user, key)

    def authenticate_header(self, request):
        return self.keyword


class CsrfFailed(exceptions.PermissionDenied):
    default_detail = _("CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's value.")
    default_code = "csrf_failed"


class SessionAuthentication(authentication.SessionAuthentication):
    """The session cookie (browser). A write without a valid `X-CSRFToken` is a 403 with code
    `csrf_failed`, as outside DRF (core.errors.csrf_failure), so a client can tell it
    from `permission_denied` (not yours)."""

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise CsrfFailed(str(exc.detail)) from exc
