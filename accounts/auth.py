from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from accounts.credentials import token_cutoff, token_user, touch_cutoff
from accounts.models import Credential, User
from realtime import pg
from realtime.db import database_call

# The handshake's query, on the event loop (realtime.pg): the active users of some unexpired
# tokens. The same statement slides the expiry of those last touched before the touch
# cutoff (a data-modifying CTE: still one round trip per batch of handshakes, and a write
# only once per CREDENTIAL_TOUCH_SECONDS per token).
TOKEN_USERS_SQL = (
    "WITH found AS ("  # nosec B608 # names from _meta; values bound
    f" SELECT t.id, t.digest, t.last_used_at, u.id AS user_id, u.username, u.full_name, u.avatar"
    f" FROM {Credential._meta.db_table} t JOIN {User._meta.db_table} u ON u.id = t.user_id"
    " WHERE t.digest = ANY(%s) AND t.kind = 'token' AND t.last_used_at > %s AND u.is_active),"
    f" touched AS (UPDATE {Credential._meta.db_table} SET last_used_at = %s"
    " WHERE id IN (SELECT id FROM found WHERE last_used_at < %s))"
    " SELECT digest, user_id, username, full_name, avatar FROM found"
)


def _socket_user(user_id: int, username: str, full_name: str, avatar: str) -> User:
    """The user of a socket, from the handshake's row: what the gateway reads of a user
    (its id and brief), without loading the rest."""
    user = User(id=user_id, username=username, full_name=full_name, avatar=avatar or "", is_active=True)
    user._state.adding = False
    user._state.db = "default"
    return user


def _live_tokens(digests: list[str]):
    return Credential.objects.filter(
        digest__in=digests, kind=Credential.KIND_TOKEN, last_used_at__gt=token_cutoff(), user__is_active=True
    )


def _users_for_digests(digests: list[str]) -> dict[str, User]:
    tokens = list(_live_tokens(digests).select_related("user"))
    now = timezone.now()
    stale = [token.pk for token in tokens if token.last_used_at < touch_cutoff(now)]
    if stale:
        Credential.objects.filter(pk__in=stale).update(last_used_at=now)
    return {token.digest: token.user for token in tokens}


class ApiTokenStore:
    """The tokens as the websocket handshake asks about them (realtime.auth.TokenStore),
    wired in asgi.py."""

    async def users_for_tokens(self, digests: list[str]) -> dict[str, User]:
        if not pg.available():
            return await database_call(_users_for_digests)(digests)
        now = timezone.now()
        params = [digests, token_cutoff(now), now, touch_cutoff(now)]
        rows = await pg.fetch(TOKEN_USERS_SQL, params)
        return {row[0]: _socket_user(*row[1:]) for row in rows}

    def valid_tokens(self, pairs: list[tuple[str, int]]) -> set[str]:
        wanted = dict(pairs)
        found = _live_tokens(list(wanted)).values_list("digest", "user_id")
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
        user = token_user(key)
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
