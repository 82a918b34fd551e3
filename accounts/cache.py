"""The cached public profile (GET /api/users/{username} without the viewer's `is_following`).

Each username has a version token in the cache; the profile is stored under that version.
A write bumps the version (at once, and again after commit), so a reader never serves a
profile older than the last committed write: a reader that raced the write stored its
stale copy under a version nobody reads any more. The cache is an optimisation only: when
it is unreachable, reads go to the database and writes still succeed.
"""

import logging
import uuid

from django.core.cache import cache
from django.db import transaction

log = logging.getLogger(__name__)

PROFILE_TTL_SECONDS = 300


def _version_key(username: str) -> str:
    return f"profile:ver:{username.lower()}"


def _data_key(username: str, version: str) -> str:
    return f"profile:data:{username.lower()}:{version}"


def profile_cache_get(username: str) -> tuple[dict | None, str | None]:
    """The cached profile (or None) and the version to store a fresh copy under."""
    try:
        version = cache.get(_version_key(username))
        if version is None:
            version = uuid.uuid4().hex
            if not cache.add(_version_key(username), version, timeout=None):
                version = cache.get(_version_key(username))
                if version is None:
                    return None, None
            return None, version
        return cache.get(_data_key(username, version)), version
    except Exception:  # noqa: BLE001 - a cache outage degrades to database reads
        log.warning("profile cache unavailable", exc_info=True)
        return None, None


def profile_cache_set(username: str, version: str | None, data: dict) -> None:
    if version is None:
        return
    try:
        cache.set(_data_key(username, version), data, timeout=PROFILE_TTL_SECONDS)
    except Exception:  # noqa: BLE001
        log.warning("profile cache unavailable", exc_info=True)


def _bump(usernames: list[str]) -> None:
    try:
        cache.set_many({_version_key(name): uuid.uuid4().hex for name in usernames}, timeout=None)
    except Exception:  # noqa: BLE001
        log.warning("profile cache invalidation failed", exc_info=True)
        try:
            cache.delete_many([_version_key(name) for name in usernames])
        except Exception:  # noqa: BLE001
            pass


def profile_cache_invalidate(*usernames: str) -> None:
    """Invalidates the cached profiles now and again once the current transaction commits."""
    names = sorted({name for name in usernames if name})
    if not names:
        return
    _bump(names)
    transaction.on_commit(lambda: _bump(names), robust=True)
