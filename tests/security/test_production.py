"""Production: secrets stay out of git and the image, settings refuse weak secrets, errors and side doors leak nothing."""

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import PASSWORD, UserFactory
from tests.security.helpers import raw_client

pytestmark = pytest.mark.django_db


def test_the_env_file_with_the_secrets_stays_out_of_git_and_the_docker_image():
    root = Path(settings.BASE_DIR)
    gitignore = (root / ".gitignore").read_text().split()
    dockerignore = (root / ".dockerignore").read_text().split()
    assert ".env" in gitignore
    # the Dockerfile copies the whole folder: the .env beside docker-compose.yml must not ride along
    assert "COPY . ." in (root / "Dockerfile").read_text()
    for name in (".env", "backup.json", "db.sqlite3", "media"):
        assert name in dockerignore, name


def test_no_secret_is_committed():
    import re
    import subprocess

    root = Path(settings.BASE_DIR)
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    assert ".env" not in files and "db.sqlite3" not in files
    pattern = re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{30,}"
        r"|(SECRET_KEY|FIELD_ENCRYPTION_KEYS|POSTGRES_PASSWORD|METRICS_TOKEN)\s*[:=]\s*['\"]?[A-Za-z0-9+/_=-]{20,}"
    )
    leaks = []
    for name in files:
        path = root / name
        if name.startswith("tests/") or not path.is_file() or path.suffix in {".png", ".jpg", ".ico"}:
            continue
        if pattern.search(path.read_text(errors="ignore")):
            leaks.append(name)
    assert leaks == []


PRODUCTION_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "debug": settings.DEBUG,
    "session_secure": settings.SESSION_COOKIE_SECURE, "session_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "session_samesite": settings.SESSION_COOKIE_SAMESITE, "csrf_secure": settings.CSRF_COOKIE_SECURE,
    "csrf_samesite": settings.CSRF_COOKIE_SAMESITE, "hsts": settings.SECURE_HSTS_SECONDS,
    "hsts_subdomains": settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "proxy_ssl": list(settings.SECURE_PROXY_SSL_HEADER or []), "nosniff": settings.SECURE_CONTENT_TYPE_NOSNIFF,
    "frame": settings.X_FRAME_OPTIONS, "hosts": settings.ALLOWED_HOSTS, "renderers": settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"],
}))
"""


def run_settings(**env_vars):
    import os
    import subprocess
    import sys

    keep = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "HTTPS", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS")
    }
    code = "import django; django.setup()\n" + PRODUCTION_SETTINGS
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={**keep, "DJANGO_SETTINGS_MODULE": "config.settings", **env_vars},
    )


def test_production_cookies_are_secure_httponly_samesite_with_hsts():
    from cryptography.fernet import Fernet

    result = run_settings(
        DEBUG="0",
        SECRET_KEY="k3y-" + Fernet.generate_key().decode(),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="instaclone.example",
    )
    config = json.loads(result.stdout)
    assert config["debug"] is False
    assert config["session_secure"] and config["session_httponly"] and config["session_samesite"] == "Lax"
    assert config["csrf_secure"] and config["csrf_samesite"] == "Lax"
    assert config["hsts"] >= 31536000 and config["hsts_subdomains"] and config["ssl_redirect"]
    assert config["proxy_ssl"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert config["nosniff"] and config["frame"] == "DENY"
    assert config["hosts"] == ["instaclone.example"]
    assert config["renderers"] == ["rest_framework.renderers.JSONRenderer"]  # no browsable API


def test_with_debug_off_a_server_error_is_json_without_a_traceback(settings, monkeypatch):
    # given: DEBUG off, and a selector that blows up
    settings.DEBUG = False
    import notifications.api

    def explode(**kwargs):
        raise RuntimeError("internal detail: /srv/secret/path")

    monkeypatch.setattr(notifications.api.selectors, "notification_list_for_user", explode)
    # when
    response = raw_client(UserFactory()).get("/api/notifications")
    # then
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Server error.", "code": "server_error"}
    assert b"Traceback" not in response.content and b"secret" not in response.content


def test_with_debug_off_an_unknown_page_is_a_plain_404(settings):
    settings.DEBUG = False
    response = Client().get("/no/such/page/../../etc")
    assert response.status_code == 404
    assert b"urlpatterns" not in response.content and b"Traceback" not in response.content


def test_the_docker_image_defaults_to_production_mode():
    dockerfile = (Path(settings.BASE_DIR) / "Dockerfile").read_text()
    assert "ENV DEBUG=0" in dockerfile
    assert dockerfile.index("ENV DEBUG=0") < dockerfile.index("CMD")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "a" * 64}, "SECRET_KEY is too weak"),
        ({"FIELD_ENCRYPTION_KEYS": "not-a-fernet-key"}, "FIELD_ENCRYPTION_KEYS"),
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
    ],
)
def test_production_refuses_weak_or_malformed_secrets(env, message):
    from cryptography.fernet import Fernet

    base = {
        "DEBUG": "0",
        "SECRET_KEY": "k3y-" + Fernet.generate_key().decode(),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    result = run_settings(**{**base, **env})
    assert result.returncode != 0
    assert message in result.stderr


def test_the_admin_does_not_tell_a_non_staff_account_from_a_wrong_password():
    UserFactory(username="alice")
    wrong = Client().post(
        "/admin/login/", {"username": "alice", "password": "wrong-password"}, REMOTE_ADDR="198.51.100.1"
    )
    right_but_not_staff = Client().post(
        "/admin/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="198.51.100.2"
    )
    assert wrong.status_code == right_but_not_staff.status_code == 200
    assert wrong.context["form"].errors == right_but_not_staff.context["form"].errors


def test_the_load_balancer_does_not_publish_metrics():
    conf = (Path(settings.BASE_DIR) / "deploy" / "nginx.conf").read_text()
    assert "location = /metrics {\n        return 404;" in conf


def test_metrics_need_the_bearer_token_when_one_is_set(settings):
    settings.METRICS_TOKEN = "s3cret-token"
    client = Client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token\u00e9").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def test_the_load_balancer_does_not_log_socket_tokens():
    conf = (Path(settings.BASE_DIR) / "deploy" / "nginx.conf").read_text()
    socket = conf[conf.index("location /ws/") :]
    socket = socket[: socket.index("}")]
    assert "access_log /var/log/nginx/access.log no_query;" in socket
    log_format = next(line for line in conf.splitlines() if line.startswith("log_format no_query"))
    assert "$request " not in log_format and "$args" not in log_format and "$request_uri" not in log_format
