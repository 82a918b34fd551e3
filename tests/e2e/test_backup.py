"""Backup and restore: `manage.py dumpdata` of a populated database, `manage.py loaddata`
into a fresh, migrated PostgreSQL database, and every row comes back (DM bodies readable)."""

import json
import subprocess
import sys

import psycopg
import pytest
from django.apps import apps
from django.db import connection

from accounts.credentials import token_create
from accounts.models import Block
from accounts.services import follow_create
from chat.services import conversation_mark_read, conversation_open, message_send
from core import crypto
from core.management.commands.rotate_encryption_keys import encrypted_columns
from feed.services import comment_create, like_create, post_create
from feed.story_services import story_create, story_mark_seen
from notifications.services import notification_create
from tests.factories import UserFactory, image_upload
from tests.servers import ROOT, Database, server_env

# Everything but what Django rebuilds (content types, permissions) and what is only
# transient (sessions, the admin log). --natural-foreign keeps references to permissions and
# groups valid in a database whose ids differ. The README's plain `dumpdata` does the same
# by default (realtime/management/commands/dumpdata.py); both are tested.
EXCLUDED = ["contenttypes", "auth.permission", "sessions", "admin.logentry"]
DUMP_ARGS = ["dumpdata", "--natural-foreign", *[f"--exclude={label}" for label in EXCLUDED], "--indent=1"]
EXCLUDED_TABLES = {"django_content_type", "auth_permission", "django_session", "django_admin_log"}

SECRET = "the spare key is under the third flowerpot"


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"


def manage(*args: str, url: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=server_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def tables() -> list[tuple[str, str, set[str]]]:
    """(table, pk column, encrypted columns) of every model table the backup covers."""
    encrypted = {}
    for column in encrypted_columns():
        encrypted.setdefault(column.model._meta.db_table, set()).add(column.column)
    out = []
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed or meta.db_table in EXCLUDED_TABLES:
            continue
        out.append((meta.db_table, meta.pk.column, encrypted.get(meta.db_table, set())))
    return out


def normalised(value, *, encrypted: bool):
    if encrypted and value is not None:
        return crypto.decrypt(value)
    if hasattr(value, "microsecond") and hasattr(value, "tzinfo"):
        # JSON backups keep milliseconds (DjangoJSONEncoder).
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def rows_of(cursor, table: str, pk: str, encrypted: set[str]) -> list[dict]:
    cursor.execute(f'SELECT * FROM "{table}" ORDER BY "{pk}"')
    names = [d[0] for d in cursor.description]
    return [
        {name: normalised(value, encrypted=name in encrypted) for name, value in zip(names, row, strict=True)}
        for row in cursor.fetchall()
    ]


def populate() -> dict:
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    UserFactory(is_active=False)
    Block.objects.create(blocker=carol, blocked=UserFactory())
    token_create(user=alice)
    follow_create(follower=bob, followee=alice)
    follow_create(follower=alice, followee=bob)
    follow_create(follower=carol, followee=alice)
    post = post_create(author=alice, image=image_upload(), caption=f"hello @{bob.username}")
    second = post_create(author=bob, image=image_upload(color=(0, 90, 200)), caption="sea")
    like_create(user=bob, post_id=post.pk)
    like_create(user=carol, post_id=post.pk)
    like_create(user=alice, post_id=second.pk)
    comment_create(author=bob, post_id=post.pk, body=f"nice @{carol.username}")
    comment_create(author=alice, post_id=second.pk, body="wow")
    direct, _ = conversation_open(creator=alice, usernames=[bob.username])
    group, _ = conversation_open(creator=carol, usernames=[alice.username, bob.username])
    first, _ = message_send(sender=alice, conversation_id=direct.pk, body=SECRET, client_id="a1")
    message_send(sender=bob, conversation_id=direct.pk, body="got it 🌷", client_id="b1")
    message_send(sender=carol, conversation_id=group.pk, body="group hello\nsecond line", client_id="c1")
    conversation_mark_read(user=bob, conversation_id=direct.pk, message_id=first.pk)
    notification_create(recipient=alice, actor=carol, verb="mention", post=post)
    story = story_create(author=alice, image=image_upload(color=(250, 200, 0)))
    story_mark_seen(viewer=bob, story_id=story.pk)
    return {"direct": direct.pk, "alice": alice.pk}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("dump_args", [DUMP_ARGS, ["dumpdata"]], ids=["explicit", "readme"])
def test_dumpdata_then_loaddata_into_a_fresh_database_restores_every_row(tmp_path, dump_args):
    # given: a populated database
    ids = populate()
    backup = tmp_path / "backup.json"
    source = database_url()
    with connection.cursor() as cursor:
        before = {table: rows_of(cursor, table, pk, enc) for table, pk, enc in tables()}
    for table in (
        "accounts_user",
        "feed_post",
        "feed_like",
        "feed_comment",
        "accounts_follow",
        "chat_message",
        "chat_participant",
        "chat_conversation",
        "notifications_notification",
        "realtime_event",
        "realtime_eventsequence",
        "accounts_credential",
        "accounts_block",
        "feed_story",
        "feed_storyview",
    ):
        assert before[table], f"{table} should hold rows for this test to mean anything"

    # when: the backup is taken and restored into a fresh database
    manage(*dump_args, f"--output={backup}", url=source)
    dumped = backup.read_text()
    assert SECRET not in dumped  # DM bodies stay ciphertext in the backup
    assert any(o["model"] == "chat.message" for o in json.loads(dumped))
    restored = Database(prefix="instaclone_restore")
    try:
        restored.migrate(server_env())
        loaded = manage("loaddata", str(backup), url=restored.url)
        assert "Installed" in loaded.stdout

        # then: every row is back
        conn = psycopg.connect(restored.url)
        try:
            with conn.cursor() as cursor:
                after = {table: rows_of(cursor, table, pk, enc) for table, pk, enc in tables()}
        finally:
            conn.close()
        for table in before:
            assert after[table] == before[table], f"{table} differs after restore"

        # and the restored app reads the messages and keeps writing with fresh ids
        script = (
            "import json\n"
            "from accounts.models import User\n"
            "from chat.models import Message\n"
            "from chat.services import message_send\n"
            f"alice = User.objects.get(pk={ids['alice']})\n"
            f"new, created = message_send(sender=alice, conversation_id={ids['direct']}, body='after restore', client_id='r1')\n"
            "print(json.dumps({'bodies': sorted(Message.objects.values_list('body', flat=True)),"
            " 'new_id': new.pk, 'created': created}))\n"
        )
        shell = manage("shell", "-c", script, url=restored.url)
        result = json.loads(shell.stdout.strip().splitlines()[-1])
        old_ids = [row["id"] for row in before["chat_message"]]
        assert result["created"] is True
        assert result["new_id"] > max(old_ids)
        assert result["bodies"] == sorted([SECRET, "got it 🌷", "group hello\nsecond line", "after restore"])
    finally:
        restored.drop()
