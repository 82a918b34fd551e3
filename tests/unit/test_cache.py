from django.core.cache import caches
from django.test import override_settings

from tests.tcp_proxy import free_port


def test_cache_answers_miss_and_drops_writes_while_redis_is_down():
    dead = {
        "default": {
            "BACKEND": "core.cache.ResilientRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    with override_settings(CACHES=dead):
        cache = caches.create_connection("default")
        assert cache.get("k", "fallback") == "fallback"
        cache.set("k", 1)
        assert cache.add("k", 1) is False
        assert cache.get_many(["a", "b"]) == {}
        cache.delete("k")


def test_cache_round_trips_on_real_redis(settings):
    cache = caches["default"]
    cache.set("answer", 42, 30)
    assert cache.get("answer") == 42
    cache.delete("answer")
    assert cache.get("answer") is None
