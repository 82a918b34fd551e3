"""Settings: everything from the environment, with a zero-setup embedded default.

Nothing set: SQLite in the project folder, the in-memory channel layer and local-memory
cache, DEBUG on. Production (DEBUG=0) refuses to start without SECRET_KEY and
FIELD_ENCRYPTION_KEYS. See the README's configuration table.
"""

import base64
import hashlib
import os
import warnings
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from core.postgres.base import TrackedConnection
from core.redis import sentinel_address

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}.") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-insecure-" + hashlib.sha256(str(BASE_DIR).encode()).hexdigest()
    warnings.warn("SECRET_KEY is not set: using a development key.", stacklevel=1)
elif not DEBUG and (len(SECRET_KEY) < 32 or len(set(SECRET_KEY)) < 8):
    # It signs sessions and CSRF tokens: a guessable one ("changeme") is as bad as none.
    raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 32 random characters.")

_raw_field_keys = env_list("FIELD_ENCRYPTION_KEYS", "")
if not _raw_field_keys:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set when DEBUG is off.")
    _raw_field_keys = [base64.urlsafe_b64encode(hashlib.sha256(("field:" + SECRET_KEY).encode()).digest()).decode()]
    warnings.warn("FIELD_ENCRYPTION_KEYS is not set: using a key derived from SECRET_KEY.", stacklevel=1)
for _key in _raw_field_keys:
    # A malformed key would otherwise surface as a 500 on the first message sent.
    try:
        Fernet(_key.encode())
    except (ValueError, TypeError):
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS: each key must be a url-safe base64 32-byte Fernet key.")
FIELD_ENCRYPTION_KEYS = _raw_field_keys

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "core",
    "realtime",
    "accounts",
    "feed",
    "chat",
    "notifications",
    "frontend",
]

MIDDLEWARE = [
    "core.middleware.RequestMetricsMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "core.middleware.StaticAndMediaMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.credentials.SessionActivityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite file by default, DATABASE_URL otherwise.
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# PostgreSQL through a bounded pool per process (psycopg 3 and Django's pool): under ASGI each
# request runs in a thread of its own, and a connection per thread made the number of
# connections follow the number of concurrent requests ("too many clients" under load). A
# request borrows a connection for its duration; past DB_POOL_SIZE it waits up to
# DB_POOL_TIMEOUT seconds, then gets 503 `unavailable`. The gateway's send path has its own
# small asyncio pool (WS_DB_POOL_SIZE, realtime/pg.py): a process holds at most
# DB_POOL_SIZE + WS_DB_POOL_SIZE connections.
DB_POOL_SIZE = env_int("DB_POOL_SIZE", 10)
# Threads for the gateway's ORM work (each borrows from the pool while it works); 1 on
# SQLite. Two, by measurement (bench/ws_throughput.py): more threads running ORM code
# starve the event loop of the GIL, so live pushes queue for seconds.
WS_DB_THREADS = env_int("WS_DB_THREADS", 2)
# Requests of a process in Django at once (each in a thread, holding a pooled connection
# while it works, through a password hash at login); more wait on the event loop, not for
# the pool. What the gateway's threads leave of the pool.
HTTP_CONCURRENCY = env_int("HTTP_CONCURRENCY", max(1, DB_POOL_SIZE - WS_DB_THREADS))
DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 10.0)
WS_DB_POOL_SIZE = env_int("WS_DB_POOL_SIZE", 4)
# /metrics reads the database's statistics at most once per this many seconds (core/dbstats.py).
DB_STATS_SECONDS = env_float("DB_STATS_SECONDS", 5.0)
# Server-side prepared statements on the gateway's hot path; off behind PgBouncer in
# transaction pooling, which cannot carry them between transactions.
DB_PREPARE_STATEMENTS = env_bool("DB_PREPARE_STATEMENTS", True)
POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if POSTGRES:
    # Django's backend, failing fast while the database is unreachable (core/postgres).
    DATABASES["default"]["ENGINE"] = "core.postgres"
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them
    # A borrowed connection is checked first: one that died (a PostgreSQL restart) is
    # replaced instead of failing the request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "connect_timeout": 5,
            "pool": {
                "min_size": min(2, DB_POOL_SIZE),
                "max_size": DB_POOL_SIZE,
                "timeout": DB_POOL_TIMEOUT,
                # A connection idle this long is closed (down to min_size).
                "max_idle": 60,
                # Give up a failing connection attempt after this long, so the next
                # request starts a fresh one: recovery after an outage takes seconds.
                "reconnect_timeout": 2,
                "connection_class": TrackedConnection,
            },
        }
    )
    if env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False):
        # Behind PgBouncer in transaction pooling: no cursor outlives its transaction.
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
else:
    # SQLite serialises writers; wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A PostgreSQL streaming replica for reads (core/replica.py): GET/HEAD on the routes named in
# REPLICA_READ_ROUTES read from it while it keeps within REPLICA_MAX_LAG_SECONDS (checked at
# most every REPLICA_CHECK_SECONDS); a credential that wrote reads from the primary for
# REPLICA_PIN_SECONDS; everything else stays on the primary. Not the profile
# (api-user-detail): it is cached, and a copy read from a lagging replica would be cached
# under the version of a newer write.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
REPLICA_MAX_LAG_SECONDS = env_float("REPLICA_MAX_LAG_SECONDS", 10.0)
REPLICA_CHECK_SECONDS = env_float("REPLICA_CHECK_SECONDS", 2.0)
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 10)
REPLICA_READ_ROUTES = env_list(
    "REPLICA_READ_ROUTES",
    "api-feed,api-explore,api-user-search,api-user-posts,api-user-followers,api-user-following,"
    "api-post-detail,api-post-comments,api-tag-search,api-tag-detail,api-tag-posts",
)
if POSTGRES and DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(DATABASE_REPLICA_URL)
    DATABASES["replica"].update(
        {
            # Django's own backend: the fail-fast tracking (core.postgres) is the primary's.
            "ENGINE": "django.db.backends.postgresql",
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                "connect_timeout": 2,
                "pool": {"min_size": 0, "max_size": DB_POOL_SIZE, "timeout": 2, "max_idle": 60, "reconnect_timeout": 2},
            },
            "TEST": {"MIRROR": "default"},
        }
    )
    DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
    MIDDLEWARE.insert(
        MIDDLEWARE.index("core.middleware.DatabaseUnavailableMiddleware") + 1, "core.replica.ReplicaReadsMiddleware"
    )

# Channel layer and cache: Redis when REDIS_URL is set, in-process otherwise.
REDIS_URL = os.environ.get("REDIS_URL", "")
# Keys of the cache, throttles and presence (core/redis.py) live under this prefix.
REDIS_PREFIX = os.environ.get("CACHE_PREFIX", "instaclone")
if REDIS_URL:
    # The pub/sub layer: measured faster than the core layer (bench/channel_layers.py) and
    # it never silently drops at a capacity bound; what Redis loses anyway the event log
    # recovers. Timeouts and the pool cap are explicit: redis-py 8's defaults (5 s socket
    # timeout, 100 connections) break idle sockets and bursts.
    # REDIS_URL may be `redis+sentinel://host:port,host:port,.../master_name[/db]`: the layer,
    # the cache and the other clients then find the master through Sentinel (core/redis.py).
    _SENTINEL = sentinel_address(REDIS_URL)
    _LAYER_HOST: dict[str, object] = {
        "socket_timeout": 30,
        "socket_connect_timeout": 2,
        "max_connections": 10000,
        "health_check_interval": 15,
        "retry_on_timeout": True,
    }
    if _SENTINEL is None:
        _LAYER_HOST["address"] = REDIS_URL
    else:
        _LAYER_HOST.update(
            sentinels=list(_SENTINEL.sentinels),
            master_name=_SENTINEL.master,
            db=_SENTINEL.db,
            sentinel_kwargs={"socket_timeout": 1, "socket_connect_timeout": 1},
        )
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis' pub/sub layer with batched publishes (realtime/layer.py).
            "BACKEND": "realtime.layer.GatewayChannelLayer",
            "CONFIG": {
                "hosts": [_LAYER_HOST],
                "prefix": os.environ.get("CHANNEL_PREFIX", "instaclone"),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "core.cache.ResilientRedisCache",
            # A list: Django splits a string LOCATION at commas.
            "LOCATION": [REDIS_URL],
            "KEY_PREFIX": REDIS_PREFIX,
            "OPTIONS": {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}
            | ({} if _SENTINEL is None else {"pool_class": "core.redis.SentinelPool"}),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
# Data exports (GET /api/me/export/{id}): private files, never served as media.
EXPORT_ROOT = Path(os.environ.get("EXPORT_ROOT", BASE_DIR / "exports"))
STORAGES = {
    "default": {"BACKEND": os.environ.get("FILE_STORAGE", "django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Uploads: a 10 MB image plus the multipart envelope.
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
IMAGE_MAX_BYTES = 10 * 1024 * 1024
# Any request body (core/bodylimit.py): the largest upload plus its multipart envelope.
REQUEST_MAX_BYTES = IMAGE_MAX_BYTES + 1024 * 1024
# A post carries up to POST_IMAGES_MAX images, each bounded as above; only its path takes
# the larger body (deploy/nginx.conf says the same).
POST_IMAGES_MAX = 10
POST_REQUEST_MAX_BYTES = POST_IMAGES_MAX * IMAGE_MAX_BYTES + 1024 * 1024
REQUEST_MAX_BYTES_BY_PATH = {"/api/posts": POST_REQUEST_MAX_BYTES}
# A JSON request body (the largest legitimate one, a 4,000-character message, is ~24 KiB).
JSON_MAX_BYTES = 256 * 1024
IMAGE_MAX_PIXELS = 40_000_000

# HTTPS: on by default in production, off with HTTPS=0 (local tests).
HTTPS = env_bool("HTTPS", not DEBUG)
if HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Throttling: defaults, overridden by THROTTLE_RATES="login=10/min,message=120/min".
THROTTLE_SCOPES = ("anon", "user", "login", "register", "post", "comment", "like", "follow", "message")
DEFAULT_THROTTLE_RATES = {
    "anon": "300/min",
    "user": "1200/min",
    "login": "20/min",
    "register": "10/hour",
    "post": "60/hour",
    "comment": "120/min",
    "like": "300/min",
    "follow": "120/min",
    "message": "600/min",
}


def parse_throttle_rates(raw: str) -> dict[str, str | None]:
    rates: dict[str, str | None] = dict(DEFAULT_THROTTLE_RATES)
    for item in raw.split(","):
        if not item.strip():
            continue
        scope, sep, rate = item.partition("=")
        scope, rate = scope.strip(), rate.strip()
        if not sep or scope not in THROTTLE_SCOPES:
            raise ImproperlyConfigured(f"THROTTLE_RATES: unknown or malformed entry {item!r}")
        rates[scope] = None if rate.lower() in {"none", "off"} else rate
    return rates


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.TokenAuthentication",
        "accounts.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only (bounded, see core/parsers.py); the upload views add multipart. No
    # endpoint takes a form body a cross-site <form> could post.
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttling.AnonRateThrottle",
        "core.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": parse_throttle_rates(os.environ.get("THROTTLE_RATES", "")),
    # Throttles count per REMOTE_ADDR, never per a client-written X-Forwarded-For (a new value
    # per request would dodge the login limit). Behind the load balancer, daphne's
    # --proxy-headers sets REMOTE_ADDR from the X-Forwarded-For that nginx overwrites.
    "NUM_PROXIES": 0,
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.CursorPagination",
    "PAGE_SIZE": 20,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Instaclone API",
    "DESCRIPTION": "REST API of Instaclone. The websocket protocol is described in docs/websocket.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our own /static/, not a CDN's `@latest`: a script on this origin could
    # read the csrftoken cookie and act as whoever is signed in.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Realtime gateway.
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 30)
# On PostgreSQL the event log is partitioned by time, one partition per this many days
# (realtime/partitions.py): retention drops whole partitions.
EVENT_PARTITION_DAYS = env_int("EVENT_PARTITION_DAYS", 7)
WS_MAX_FRAME_BYTES = 64 * 1024
WS_RATE_BURST = env_int("WS_RATE_BURST", 300)
WS_RATE_PER_SECOND = env_float("WS_RATE_PER_SECOND", 30)
WS_LOG_CHECK_SECONDS = env_float("WS_LOG_CHECK_SECONDS", 30)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
PRESENCE_TTL_SECONDS = env_int("PRESENCE_TTL_SECONDS", 90)
# Sockets one account may hold open across every node (counted in Redis; per process while
# Redis is away).
WS_MAX_SOCKETS_PER_USER = env_int("WS_MAX_SOCKETS_PER_USER", 20)

# Credentials (accounts.credentials): a token unused this long has expired; `last_used_at`
# of a token or session is written at most once per CREDENTIAL_TOUCH_SECONDS.
TOKEN_TTL_DAYS = env_int("TOKEN_TTL_DAYS", 30)

# Mail (password reset links): SMTP when EMAIL_HOST is set, the console otherwise.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Instaclone <no-reply@localhost>")
# The address links in mail point at (https://photos.example.com); the request's own
# host (one of ALLOWED_HOSTS) when unset.
PUBLIC_URL = os.environ.get("PUBLIC_URL", "")
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 3600)
CREDENTIAL_TOUCH_SECONDS = env_int("CREDENTIAL_TOUCH_SECONDS", 300)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
CSRF_FAILURE_VIEW = "core.errors.csrf_failure"
