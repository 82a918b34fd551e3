"""A Redis cache that degrades to "miss" while Redis is down, without waiting for it.

Cached reads go through the cache on every request; a Redis outage must fail no request and
no write. Reads answer the default, writes are dropped (cached values carry short timeouts,
so an invalidation lost in an outage heals by itself). After one failure the process's Redis
breaker (core.redis) opens and the cache is skipped without a round trip until it closes.
"""

import functools

from django.core.cache.backends.redis import RedisCache

from core.redis import OUTAGE, REDIS


def _tolerant(fallback):
    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if not REDIS.available:
                return fallback(*args, **kwargs)
            try:
                return method(self, *args, **kwargs)
            except OUTAGE:
                REDIS.failed(f"cache {method.__name__}")
                return fallback(*args, **kwargs)

        return wrapper

    return decorate


def _default(key, default=None, *args, **kwargs):
    return default


class ResilientRedisCache(RedisCache):
    get = _tolerant(_default)(RedisCache.get)
    get_many = _tolerant(lambda *a, **k: {})(RedisCache.get_many)
    has_key = _tolerant(lambda *a, **k: False)(RedisCache.has_key)
    add = _tolerant(lambda *a, **k: False)(RedisCache.add)
    set = _tolerant(lambda *a, **k: None)(RedisCache.set)
    set_many = _tolerant(lambda data, *a, **k: list(data))(RedisCache.set_many)
    touch = _tolerant(lambda *a, **k: False)(RedisCache.touch)
    delete = _tolerant(lambda *a, **k: False)(RedisCache.delete)
    delete_many = _tolerant(lambda *a, **k: None)(RedisCache.delete_many)
    incr = _tolerant(lambda key, delta=1, *a, **k: delta)(RedisCache.incr)
