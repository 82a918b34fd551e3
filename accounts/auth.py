from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from accounts.models import ApiToken
from core.crypto import digest


def user_for_token(key: str):
    """The active user a token key belongs to, or None."""
    if not key or len(key) > 128:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=digest(key)).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


class ApiTokenStore:
    """The tokens as the websocket handshake asks about them (realtime.auth.TokenStore),
    wired in asgi.py."""

    def user_for_token(self, key: str):
        return user_for_token(key)

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
