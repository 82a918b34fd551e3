"""Settings of the stock relay: a channel layer and nothing else (no database, no apps)."""

import os
import secrets

SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS: list[str] = []
DATABASES: dict = {}
USE_TZ = True
ASGI_APPLICATION = "relay.asgi.application"

# The same layer and connection settings as a production node's.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
                    "socket_timeout": 30,
                    "socket_connect_timeout": 2,
                    "max_connections": 10000,
                    "health_check_interval": 15,
                    "retry_on_timeout": True,
                }
            ],
            "prefix": os.environ.get("RELAY_PREFIX", "relay"),
        },
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
