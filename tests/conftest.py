import hashlib
from pathlib import Path

import pytest
from django.core.cache import cache
from pytest_django.fixtures import _set_suffix_to_test_databases
from rest_framework.test import APIClient

from core.redis import REDIS
from core.throttling import LIMITER
from tests.factories import UserFactory, issue_token

# With `make test`'s two workers (pytest-xdist, --dist loadgroup) a module runs whole on one
# worker (its module-scoped servers start once), and the tests that load the machine on
# purpose and then hold it to a time (fault recovery within seconds, the fuzzer's flat memory,
# the pools under 500 requests) run one after another on the same worker, never two at once.
LOADS_THE_MACHINE = ("faults", "fuzz")
LOADS_THE_MACHINE_MODULES = ("tests/e2e/test_pool.py", "tests/e2e/test_maintenance.py")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        heavy = module in LOADS_THE_MACHINE_MODULES or any(item.get_closest_marker(m) for m in LOADS_THE_MACHINE)
        item.add_marker(pytest.mark.xdist_group("loads-the-machine" if heavy else module))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database per checkout (`test_instaclone_<hash of the path>`): two checkouts on
    one machine, or CI beside a developer, never drop each other's test database."""
    checkout = hashlib.sha256(str(Path(__file__).resolve().parent.parent).encode()).hexdigest()[:8]
    _set_suffix_to_test_databases(suffix=checkout)


@pytest.fixture(autouse=True)
def _fast_password_hashing(request, settings):
    """Argon2 is deliberately slow; tests that do not check hashing use MD5 (test-only).
    A test that checks the real hasher is marked `real_password_hashing`."""
    if request.node.get_closest_marker("real_password_hashing") is None:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def clear_cache() -> None:
    """Empties this run's cache. On Redis only this run's keys go (its KEY_PREFIX): Django's
    `clear()` is FLUSHDB, which would wipe the throttles of another run sharing the server."""
    client = getattr(cache, "_cache", None)
    if client is None or not hasattr(client, "get_client"):
        cache.clear()
        return
    redis = client.get_client(write=True)
    keys = list(redis.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
    if keys:
        redis.delete(*keys)


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORT_ROOT = tmp_path / "exports"
    LIMITER.reset()
    REDIS.reset()
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def user_factory(db):
    return UserFactory


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    """An API client authenticated by token as the given user."""

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user)}")
        return client

    return make


@pytest.fixture
def auth_client(user, client_for):
    return client_for(user)
