"""Configuration: one code path, the embedded default and production mode."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({
    "db": settings.DATABASES["default"]["ENGINE"],
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "debug": settings.DEBUG,
    "ssl_redirect": getattr(settings, "SECURE_SSL_REDIRECT", False),
    "throttles": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
}))
"""

CONFIG_VARS = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "DEBUG",
    "HTTPS",
    "THROTTLE_RATES",
    "ALLOWED_HOSTS",
)


def clean_env(**env_vars) -> dict:
    """This environment without the configuration, then `env_vars`, on the project's own
    settings (not the test run's, which set development defaults)."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings", **env_vars}


def run_python(code: str, **env_vars) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env(**env_vars), capture_output=True, text=True, timeout=60
    )


def production_env(**extra) -> dict:
    return {
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + Fernet.generate_key().decode(),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "instaclone.example",
        **extra,
    }


def test_nothing_set_means_sqlite_and_in_memory_layer():
    result = run_python(PRINT_SETTINGS)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["db"] == "django.db.backends.sqlite3"
    assert config["layer"] == "channels.layers.InMemoryChannelLayer"
    assert config["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert config["debug"] is True
    assert config["ssl_redirect"] is False
    assert "SECRET_KEY is not set" in result.stderr


def test_database_and_redis_urls_select_postgres_and_redis():
    result = run_python(
        PRINT_SETTINGS, DATABASE_URL="postgres://postgres@localhost:5432/x", REDIS_URL="redis://localhost:6379/0"
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["db"] == "core.postgres"
    assert config["layer"] == "realtime.layer.GatewayChannelLayer"
    assert config["cache"] == "core.cache.ResilientRedisCache"


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("1", True), ("0", False)])
def test_server_side_cursors_can_be_turned_off_for_pgbouncer(value, expected):
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'])"
    )
    extra = {} if value is None else {"DB_DISABLE_SERVER_SIDE_CURSORS": value}
    result = run_python(code, DATABASE_URL="postgres://postgres@localhost:5432/x", **extra)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(expected)


def test_throttle_rates_are_overridden_per_scope():
    result = run_python(PRINT_SETTINGS, THROTTLE_RATES="login=10/min,message=120/min")
    throttles = json.loads(result.stdout)["throttles"]
    assert throttles["login"] == "10/min"
    assert throttles["message"] == "120/min"
    assert throttles["register"]  # the rest keep their defaults


def test_unknown_throttle_scope_fails_fast():
    result = run_python(PRINT_SETTINGS, THROTTLE_RATES="logn=10/min")
    assert result.returncode != 0
    assert "THROTTLE_RATES" in result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_secrets(missing):
    env = production_env()
    del env[missing]
    result = run_python(PRINT_SETTINGS, **env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_production_mode_turns_on_https_and_passes_check_deploy():
    env = production_env()
    config = json.loads(run_python(PRINT_SETTINGS, **env).stdout)
    assert config["debug"] is False and config["ssl_redirect"] is True

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_0_serves_plain_http_in_production():
    config = json.loads(run_python(PRINT_SETTINGS, **production_env(HTTPS="0")).stdout)
    assert config["ssl_redirect"] is False
