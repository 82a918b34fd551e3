"""Websocket handshake: the Origin rule, then who is connecting.

Origin rule (cross-site websocket hijacking, DESIGN section 5): a handshake that carries an
`Origin` header is refused (HTTP 403, before accept) unless that origin's host is in
ALLOWED_HOSTS, whatever its credentials. Without `Origin` (a non-browser client) only a token
authenticates; a session cookie alone does not, since any page's script could ride on it if
a proxy stripped the header.

Credentials, first found wins: `Authorization: Token <key>`, `?token=<key>`, then the session
cookie (only with a valid Origin). A presented token decides alone: a bad token is not
rescued by a cookie. The scope gets `user` (AnonymousUser when nobody), `credential_digest`
(SHA-256 hex of the token or session key: logout closes sockets through it),
`credential_kind` ("token", "session" or "") and `auth_unavailable` (the database could not
be asked). The consumer accepts an anonymous socket and closes it with 4401.
"""

import logging
from importlib import import_module
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError
from django.http.request import split_domain_port, validate_host

from accounts.models import hash_token

log = logging.getLogger(__name__)

MAX_CREDENTIAL_CHARS = 128
MAX_QUERY_STRING_BYTES = 4096


def header(scope, name: bytes) -> str | None:
    """The first value of a request header, decoded as latin-1, or None."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def origin_allowed(origin: str) -> bool:
    """True when the Origin header names a host in ALLOWED_HOSTS."""
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    domain, _port = split_domain_port(parts.netloc.rpartition("@")[2])
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def query_param(scope, name: str) -> str | None:
    raw = scope.get("query_string", b"")
    if len(raw) > MAX_QUERY_STRING_BYTES:
        return None
    values = parse_qs(raw.decode("latin-1"), keep_blank_values=True).get(name)
    return values[0] if values else None


def token_from_scope(scope) -> str | None:
    auth = header(scope, b"authorization")
    if auth:
        keyword, _, key = auth.strip().partition(" ")
        if keyword.lower() == "token":
            return key.strip()
    return query_param(scope, "token")


def session_key_from_scope(scope) -> str | None:
    cookies = header(scope, b"cookie")
    if not cookies:
        return None
    for part in cookies.split(";"):
        name, _, value = part.strip().partition("=")
        if name == settings.SESSION_COOKIE_NAME and value:
            return value.strip('"')
    return None


def _user_for_session(session_key: str):
    from django.contrib.auth import get_user

    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(SimpleNamespace(session=session))
    return user if user.is_authenticated and user.is_active else None


def _authenticate(token: str | None, session_key: str | None):
    """(user or None, digest, kind) for the presented credential."""
    from accounts.auth import user_for_token

    if token is not None:
        if not token or len(token) > MAX_CREDENTIAL_CHARS:
            return None, "", ""
        user = user_for_token(token)
        return (user, hash_token(token), "token") if user else (None, "", "")
    if session_key and len(session_key) <= MAX_CREDENTIAL_CHARS:
        user = _user_for_session(session_key)
        return (user, hash_token(session_key), "session") if user else (None, "", "")
    return None, "", ""


def credential_still_valid(*, kind: str, digest: str, session_key: str | None, user_id: int) -> bool:
    """Whether the credential a socket opened with still names its user (a logout whose
    `auth.revoked` publish was lost is caught by the gateway's periodic check)."""
    from accounts.models import ApiToken

    if kind == "token":
        return ApiToken.objects.filter(digest=digest, user_id=user_id, user__is_active=True).exists()
    if kind == "session" and session_key:
        user = _user_for_session(session_key)
        return user is not None and user.pk == user_id
    return False


async def authenticate(token: str | None, session_key: str | None):
    from realtime.consumers import database_call

    return await database_call(_authenticate)(token, session_key)


async def refuse_handshake(receive, send) -> None:
    """Rejects the handshake before accept: the server answers HTTP 403."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


class OriginAndAuthMiddleware:
    """ASGI middleware for websocket scopes: enforces the Origin rule and authenticates."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        origin = header(scope, b"origin")
        if origin is not None and not origin_allowed(origin):
            log.info("websocket refused: origin %r not allowed", origin[:200])
            return await refuse_handshake(receive, send)
        token = token_from_scope(scope)
        # A cookie counts only when a browser told us, by a valid Origin, which page opened it.
        session_key = session_key_from_scope(scope) if origin is not None and token is None else None
        scope = dict(scope)
        scope.update(user=AnonymousUser(), credential_digest="", credential_kind="", auth_unavailable=False)
        try:
            user, digest, kind = await authenticate(token, session_key)
        except (OperationalError, InterfaceError):
            log.warning("websocket auth: database unavailable")
            scope["auth_unavailable"] = True
        else:
            if user is not None:
                scope.update(user=user, credential_digest=digest, credential_kind=kind)
                if kind == "session":
                    scope["session_key"] = session_key
        return await self.app(scope, receive, send)
