"""The committed OpenAPI document (docs/openapi.yaml) is the generated one.

Integer bounds in the schema follow the database backend: the document describes the
production one, PostgreSQL (generating it does not connect)."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DATABASE_URL = "postgres://localhost/instaclone"


def test_committed_schema_matches_the_generated_one(tmp_path):
    out = tmp_path / "schema.yaml"
    subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": SCHEMA_DATABASE_URL},
    )
    committed = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert yaml.safe_load(out.read_text()) == committed, (
        "docs/openapi.yaml is stale: run `DATABASE_URL=postgres://localhost/instaclone .venv/bin/python manage.py spectacular --file docs/openapi.yaml`"
    )


def test_every_contract_path_is_in_the_schema():
    paths = set(yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())["paths"])
    contract = {
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/me",
        "/api/users",
        "/api/users/{username}",
        "/api/users/{username}/follow",
        "/api/users/{username}/followers",
        "/api/users/{username}/following",
        "/api/users/{username}/posts",
        "/api/posts",
        "/api/posts/{post_id}",
        "/api/feed",
        "/api/posts/{post_id}/like",
        "/api/posts/{post_id}/comments",
        "/api/comments/{comment_id}",
        "/api/conversations",
        "/api/conversations/{conversation_id}/messages",
        "/api/conversations/{conversation_id}/read",
        "/api/notifications",
        "/api/notifications/read",
        "/api/me/sessions",
        "/api/me/sessions/{credential_id}",
        "/api/me/sessions/revoke-others",
        "/api/me/password",
        "/api/auth/password-reset",
        "/api/auth/password-reset/confirm",
        "/api/me/export",
        "/api/me/export/{export_id}",
    }
    assert contract <= paths
