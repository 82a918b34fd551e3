"""Credentials: the API tokens and browser sessions a person is signed in with.

Each is a `Credential` row holding the SHA-256 digest of its secret. A token expires after
TOKEN_TTL_DAYS without use; every use slides it, but `last_used_at` (with the user agent
and address) is written at most once per CREDENTIAL_TOUCH_SECONDS per credential, so an
authenticated request costs no write of its own. A session's row is written at login and
touched the same way by `SessionActivityMiddleware`; the Django session keeps its own
expiry (SESSION_COOKIE_AGE, sliding with the touch, which saves the session).

Revoking a credential deletes its row (and, for a session, the Django session) and, after
commit, sends `auth.revoked` to its credential group, so its sockets close with 4401 at
once; the gateway's periodic credential check (realtime.hub) closes any whose publish was
lost.
"""

import ipaddress
from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from accounts.models import Credential, User
from core.crypto import digest
from core.errors import UNAVAILABLE_ERRORS
from realtime.publish import credential_group, publish

LIST_MAX = 200
SESSION_TOUCHED = "_credential_touched"


def token_cutoff(now: datetime | None = None) -> datetime:
    """Tokens last used before this moment have expired."""
    return (now or timezone.now()) - timedelta(days=settings.TOKEN_TTL_DAYS)


def touch_cutoff(now: datetime | None = None) -> datetime:
    """Credentials last touched before this moment are touched again on their next use."""
    return (now or timezone.now()) - timedelta(seconds=settings.CREDENTIAL_TOUCH_SECONDS)


def client_of(request) -> tuple[str, str | None]:
    """(user agent, address) of a request, bounded and checked."""
    meta = getattr(request, "META", {})
    agent = str(meta.get("HTTP_USER_AGENT", ""))[: Credential.USER_AGENT_MAX]
    address = meta.get("REMOTE_ADDR")
    try:
        ip = str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        ip = None
    return agent, ip


# Writes


@transaction.atomic
def token_create(*, user: User, user_agent: str = "", ip: str | None = None) -> str:
    """Issues a new API token for the user and returns its key (only its digest is kept)."""
    key = Credential.new_key()
    Credential.objects.create(
        user=user,
        kind=Credential.KIND_TOKEN,
        digest=digest(key),
        user_agent=user_agent[: Credential.USER_AGENT_MAX],
        ip=ip,
    )
    return key


@transaction.atomic
def session_record(
    *, user: User, session_key: str, previous_key: str | None = None, user_agent: str = "", ip: str | None = None
) -> Credential:
    """Records a session that just signed in (its key after login cycled it); the row of
    the session it replaced, if any, goes."""
    if previous_key and previous_key != session_key:
        Credential.objects.filter(kind=Credential.KIND_SESSION, digest=digest(previous_key)).delete()
    credential, _ = Credential.objects.update_or_create(
        digest=digest(session_key),
        defaults={
            "user": user,
            "kind": Credential.KIND_SESSION,
            "session_key": session_key,
            "user_agent": user_agent[: Credential.USER_AGENT_MAX],
            "ip": ip,
            "last_used_at": timezone.now(),
        },
    )
    return credential


def credential_touch(*, credential_digest: str, user_agent: str | None = None, ip: str | None = None) -> bool:
    """Marks a credential used now (the caller decided it is due: at most once per
    CREDENTIAL_TOUCH_SECONDS); False when there is no such credential (any more)."""
    values: dict = {"last_used_at": timezone.now()}
    if user_agent:
        values["user_agent"] = user_agent[: Credential.USER_AGENT_MAX]
    if ip:
        values["ip"] = ip
    return bool(Credential.objects.filter(digest=credential_digest).update(**values))


def _revoke(credentials: list[Credential]) -> int:
    """Deletes these credentials (and the Django sessions of the session ones); their
    sockets are told after commit. Runs inside the caller's transaction."""
    if not credentials:
        return 0
    session_keys = [c.session_key for c in credentials if c.kind == Credential.KIND_SESSION and c.session_key]
    Credential.objects.filter(pk__in=[c.pk for c in credentials]).delete()
    if session_keys:
        engine = import_module(settings.SESSION_ENGINE)
        for key in session_keys:
            engine.SessionStore(key).delete(key)
    sends = [(credential_group(c.digest), {"type": "auth.revoked"}) for c in credentials]
    transaction.on_commit(lambda: publish(sends), robust=True)
    return len(credentials)


@transaction.atomic
def credential_revoke(*, user: User, credential_id: int) -> Credential | None:
    """Revokes one of the user's credentials; None when the user has no such credential."""
    credential = Credential.objects.select_for_update().filter(user=user, pk=credential_id).first()
    if credential is None:
        return None
    _revoke([credential])
    return credential


@transaction.atomic
def credentials_revoke_all(*, user: User, keep_digest: str | None = None) -> int:
    """Revokes every credential of the user but the one with `keep_digest` (the caller's
    own, for "log out everywhere else" and a password change); returns how many."""
    credentials = Credential.objects.select_for_update().filter(user=user)
    if keep_digest:
        credentials = credentials.exclude(digest=keep_digest)
    return _revoke(list(credentials))


@transaction.atomic
def credential_logout(*, user: User, token_key: str | None, session_key: str | None) -> None:
    """Revokes the token (if any) and the session's row, and after commit tells every
    socket opened with either to close. Ending the Django session itself is the caller's
    (it owns the request)."""
    sends = []
    for secret in (token_key, session_key):
        if secret:
            secret_digest = digest(secret)
            Credential.objects.filter(user=user, digest=secret_digest).delete()
            sends.append((credential_group(secret_digest), {"type": "auth.revoked"}))
    if sends:
        transaction.on_commit(lambda: publish(sends), robust=True)


# Reads


def token_user(key: str) -> User | None:
    """The active user of an unexpired token key, or None. A use that comes at least
    CREDENTIAL_TOUCH_SECONDS after the last recorded one slides the expiry (one UPDATE)."""
    if not key or len(key) > 128:
        return None
    now = timezone.now()
    credential = (
        Credential.objects.select_related("user")
        .filter(kind=Credential.KIND_TOKEN, digest=digest(key), last_used_at__gt=token_cutoff(now))
        .first()
    )
    if credential is None or not credential.user.is_active:
        return None
    if credential.last_used_at < touch_cutoff(now):
        Credential.objects.filter(pk=credential.pk).update(last_used_at=now)
    return credential.user


def _live_session_keys(keys: list[str]) -> set[str]:
    if not keys:
        return set()
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
        return set(
            Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).values_list(
                "session_key", flat=True
            )
        )
    engine = import_module(settings.SESSION_ENGINE)
    return {key for key in keys if engine.SessionStore().exists(key)}


def credential_list(*, user: User) -> list[Credential]:
    """The user's live credentials, most recently used first (at most LIST_MAX). Expired
    tokens and the rows of sessions that ended on their own are removed on the way."""
    credentials = list(Credential.objects.filter(user=user).order_by("-last_used_at", "-id")[: LIST_MAX * 2])
    cutoff = token_cutoff()
    sessions = [c for c in credentials if c.kind == Credential.KIND_SESSION]
    live = _live_session_keys([c.session_key for c in sessions if c.session_key])
    dead = [
        c.pk
        for c in credentials
        if (c.kind == Credential.KIND_TOKEN and c.last_used_at <= cutoff)
        or (c.kind == Credential.KIND_SESSION and c.session_key not in live)
    ]
    if dead:
        Credential.objects.filter(pk__in=dead).delete()
    return [c for c in credentials if c.pk not in set(dead)][:LIST_MAX]


def credential_digest_of(request) -> str | None:
    """The digest of the credential a DRF request authenticated with."""
    if isinstance(getattr(request, "auth", None), str):
        return digest(request.auth)
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    return digest(key) if key else None


class SessionActivityMiddleware:
    """Slides a signed-in session's `last_used_at` (and the session's own expiry) at most
    once per CREDENTIAL_TOUCH_SECONDS: the time of the last touch rides in the session, so
    a request in between costs nothing. After Django's AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        try:
            self._touch(request)
        except UNAVAILABLE_ERRORS:
            # The database is away (the session itself loads from it): the touch waits for
            # a later request, and the response (a 503 `unavailable`, most likely) stands.
            pass
        return response

    @staticmethod
    def _touch(request) -> None:
        # After the view: a session it ended (logout, a revocation, a password reset) is
        # neither touched nor saved again.
        session = getattr(request, "session", None)
        key = getattr(session, "session_key", None)
        if key and session is not None and session.get("_auth_user_id") is not None:
            now = timezone.now().timestamp()
            touched = session.get(SESSION_TOUCHED)
            if not isinstance(touched, (int, float)) or now - touched >= settings.CREDENTIAL_TOUCH_SECONDS:
                agent, ip = client_of(request)
                if credential_touch(credential_digest=digest(key), user_agent=agent, ip=ip):
                    session[SESSION_TOUCHED] = now
