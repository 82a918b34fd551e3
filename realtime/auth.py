"""Websocket handshake: the Origin rule, then who is connecting.

Origin rule (cross-site websocket hijacking, docs/websocket.md): a handshake that carries an
`Origin` header is refused (HTTP 403, before accept) unless that origin's host is in
ALLOWED_HOSTS and its scheme, host and port are the socket's own (or a CSRF_TRUSTED_ORIGINS
entry), whatever its credentials. Without `Origin` (a non-browser client) only a token
authenticates; a session cookie alone does not, since any page's script could ride on it if
a proxy stripped the header.

Credentials, first found wins: `Authorization: Token <key>`, `?token=<key>`, then the session
cookie (only with a valid Origin). A presented token decides alone: a bad token is not
rescued by a cookie. The scope gets `user` (AnonymousUser when nobody), `credential_digest`
(SHA-256 hex of the token or session key: logout closes sockets through it),
`credential_kind` ("token", "session" or "") and `auth_unavailable` (the database could not
be asked). The consumer accepts an anonymous socket and closes it with 4401.

Tokens belong to the accounts app: `asgi.py` hands the middleware a `TokenStore` (how to
find a token's user, and whether a token still stands), so the gateway imports no app.
"""

import logging
from importlib import import_module
from types import SimpleNamespace
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host
from django.utils import timezone

from core.crypto import digest
from core.errors import UNAVAILABLE_ERRORS
from realtime.batch import lookups
from realtime.db import database_call

log = logging.getLogger(__name__)


class TokenStore(Protocol):
    """The API tokens, as the gateway asks about them."""

    async def users_for_tokens(self, digests: list[str]) -> dict[str, Any]:
        """The active user of each of these token digests that has one (one query; on the
        event loop)."""

    def valid_tokens(self, pairs: list[tuple[str, int]]) -> set[str]:
        """Of these (digest, user id) pairs, the digests whose token still names that active
        user (one query; in a database thread)."""


MAX_CREDENTIAL_CHARS = 128
MAX_QUERY_STRING_BYTES = 4096


def header(scope, name: bytes) -> str | None:
    """The first value of a request header, decoded as latin-1, or None."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_parts(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an `http(s)://host[:port]` origin, lowercased, the port
    spelled out; None for anything else (a path, credentials, another scheme)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _is_secure(scope) -> bool:
    """Whether the browser reached us over TLS, decided as Django decides `is_secure()` for
    REST: the proxy's header when SECURE_PROXY_SSL_HEADER names one and it is present, else
    the scope's scheme."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, secure_value = proxy
        value = header(scope, name.removeprefix("HTTP_").lower().replace("_", "-").encode())
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


def _own_origin(scope) -> tuple[str, str, int] | None:
    """The origin the browser used to reach this socket: the scheme and the Host header
    (which must name an allowed host), as REST's CSRF check builds it."""
    host = header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return _origin_parts(f"{'https' if _is_secure(scope) else 'http'}://{host}")


def _trusted(parts: tuple[str, str, int]) -> bool:
    """Is this origin one of CSRF_TRUSTED_ORIGINS (exactly, or under a `*.` wildcard)?"""
    scheme, host, port = parts
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "://*." in trusted:
            trusted_scheme, _, rest = trusted.partition("://*.")
            wanted = _origin_parts(f"{trusted_scheme}://{rest}")
            if wanted and wanted[0] == scheme and wanted[2] == port and host.endswith("." + wanted[1]):
                return True
        elif _origin_parts(trusted) == parts:
            return True
    return False


def origin_allowed(origin: str, scope) -> bool:
    """The Origin rule: the origin names a host in ALLOWED_HOSTS, and its scheme, host and
    port are those the socket was opened on, or a CSRF_TRUSTED_ORIGINS entry, as REST's
    CSRF check demands. An app on another port (or plain http) of an allowed host is
    another origin."""
    parts = _origin_parts(origin)
    if parts is None:
        return False
    domain = f"[{parts[1]}]" if ":" in parts[1] else parts[1]  # as ALLOWED_HOSTS spells IPv6
    if not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    return parts == _own_origin(scope) or _trusted(parts)


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
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    # get_user reads nothing of a request but its session.
    user = get_user(cast(HttpRequest, SimpleNamespace(session=session)))
    return user if user.is_authenticated and user.is_active else None


def invalid_credentials(sockets: list[tuple[int, dict, int]]) -> set[int]:
    """Of these (socket id, scope, user id), the socket ids whose credential no longer names
    their user: a token deleted, a session ended. One query for the tokens and one for the
    sessions (database sessions; another session engine is asked session by session). Runs
    in a database thread, for the gateway's periodic check (realtime.hub)."""
    invalid: set[int] = set()
    tokens: dict[TokenStore, list[tuple[int, str, int]]] = {}
    sessions: list[tuple[int, str, int]] = []
    for socket_id, scope, user_id in sockets:
        kind = scope.get("credential_kind", "")
        if kind == "token":
            tokens.setdefault(scope["token_store"], []).append((socket_id, scope.get("credential_digest", ""), user_id))
        elif kind == "session" and scope.get("session_key"):
            sessions.append((socket_id, scope["session_key"], user_id))
        else:
            invalid.add(socket_id)
    for store, entries in tokens.items():
        valid = store.valid_tokens([(token_digest, user_id) for _sid, token_digest, user_id in entries])
        invalid.update(socket_id for socket_id, token_digest, _uid in entries if token_digest not in valid)
    owners = _session_owners([key for _sid, key, _uid in sessions])
    invalid.update(socket_id for socket_id, key, user_id in sessions if owners.get(key) != user_id)
    return invalid


def _session_owners(session_keys: list[str]) -> dict[str, int]:
    """The active user of each live session among these keys."""
    if not session_keys:
        return {}
    engine = import_module(settings.SESSION_ENGINE)
    owners: dict[str, int] = {}
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
        store = engine.SessionStore()
        rows = Session.objects.filter(session_key__in=session_keys, expire_date__gt=timezone.now())
        for key, data in rows.values_list("session_key", "session_data"):
            user_id = store.decode(data).get(SESSION_KEY)
            if user_id is not None:
                owners[key] = int(user_id)
    else:
        for key in session_keys:
            user = _user_for_session(key)
            if user is not None:
                owners[key] = user.pk
    active = set(
        get_user_model().objects.filter(pk__in=set(owners.values()), is_active=True).values_list("pk", flat=True)
    )
    return {key: user_id for key, user_id in owners.items() if user_id in active}


async def refuse_handshake(receive, send) -> None:
    """Rejects the handshake before accept: the server answers HTTP 403."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


class OriginAndAuthMiddleware:
    """ASGI middleware for websocket scopes: enforces the Origin rule and authenticates
    with `tokens` or the session."""

    def __init__(self, app, *, tokens: TokenStore):
        self.app = app
        self.tokens = tokens
        # Handshakes arriving together share one token query (a burst of reconnects).
        self.token_users = lookups(lambda digests: self.tokens.users_for_tokens(digests))

    async def authenticate(self, token: str | None, session_key: str | None):
        """(user or None, digest, kind) for the presented credential."""
        if token is not None:
            if not token or len(token) > MAX_CREDENTIAL_CHARS:
                return None, "", ""
            token_digest = digest(token)
            user = await self.token_users.submit(token_digest)
            return (user, token_digest, "token") if user else (None, "", "")
        if session_key and len(session_key) <= MAX_CREDENTIAL_CHARS:
            user = await database_call(_user_for_session)(session_key)
            return (user, digest(session_key), "session") if user else (None, "", "")
        return None, "", ""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        origin = header(scope, b"origin")
        if origin is not None and not origin_allowed(origin, scope):
            log.info("websocket refused: origin %r not allowed", origin[:200])
            return await refuse_handshake(receive, send)
        token = token_from_scope(scope)
        # A cookie counts only when a browser told us, by a valid Origin, which page opened it.
        session_key = session_key_from_scope(scope) if origin is not None and token is None else None
        scope = dict(scope)
        scope.update(
            user=AnonymousUser(),
            credential_digest="",
            credential_kind="",
            auth_unavailable=False,
            token_store=self.tokens,
        )
        try:
            user, credential_digest, kind = await self.authenticate(token, session_key)
        except UNAVAILABLE_ERRORS:
            log.warning("websocket auth: database unavailable")
            scope["auth_unavailable"] = True
        else:
            if user is not None:
                scope.update(user=user, credential_digest=credential_digest, credential_kind=kind)
                if kind == "session":
                    scope["session_key"] = session_key
        return await self.app(scope, receive, send)
