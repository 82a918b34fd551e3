import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from chat.models import Message
from chat.services import conversation_open, message_send
from core import crypto
from core.management.commands.rotate_encryption_keys import encrypted_columns
from realtime import events
from realtime.models import Event
from tests.factories import UserFactory

SECRETS = [f"secret number {i}: the vault code is {i * 7919}" for i in range(7)]


def raw_values(table: str, column: str) -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {table} ORDER BY id")
        return dict(cursor.fetchall())


def all_raw() -> dict[str, dict[int, str]]:
    return {"body": raw_values("chat_message", "body"), "payload": raw_values("realtime_event", "payload")}


def bodies() -> dict[int, str]:
    return raw_values("chat_message", "body")


def decrypts_with(key: str, raw: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(raw[len(crypto.PREFIX) :].encode())
    except InvalidToken:
        return False
    return True


def rotate(**kwargs) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_encryption_keys", stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def conversation_with_secrets(db):
    alice, bob = UserFactory(), UserFactory()
    conversation, _ = conversation_open(creator=alice, usernames=[bob.username])
    for i, body in enumerate(SECRETS):
        message_send(sender=alice if i % 2 else bob, conversation_id=conversation.pk, body=body, client_id=f"c{i}")
    return conversation


def test_bodies_are_stored_as_ciphertext_and_the_event_log_holds_none(conversation_with_secrets):
    raw = all_raw()
    assert len(raw["body"]) == len(SECRETS)
    for value in raw["body"].values():
        assert value.startswith(crypto.PREFIX)
        assert "vault" not in value and "secret" not in value
    assert sorted(Message.objects.values_list("body", flat=True)) == sorted(SECRETS)
    # message.new for both participants, each by reference to its message: no text at all
    assert len(raw["payload"]) == 2 * len(SECRETS)
    assert set(raw["payload"].values()) == {None}
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM realtime_event")
        dump = repr(cursor.fetchall())
    assert "vault" not in dump and "secret" not in dump
    assert set(Event.objects.values_list("ref", flat=True)) == set(Message.objects.values_list("pk", flat=True))


def test_every_encrypted_column_is_found():
    labels = {(c.model._meta.label, c.field_name) for c in encrypted_columns()}
    assert ("chat.Message", "body") in labels


def test_rotation_puts_every_value_under_the_new_key_and_a_rerun_changes_nothing(conversation_with_secrets):
    # given: a new key in front of the old one
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    before = bodies()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, *old_keys]):
        # when
        out, err = rotate(batch_size=3)
        after = bodies()
        second_out, _ = rotate(batch_size=3)
        # then
        assert "chat.Message.body: 7 rows, 7 re-encrypted" in out
        assert "[##############################] 7/7" in err  # the progress bar
        assert "chat.Message.body: 7 rows, 0 re-encrypted" in second_out
        assert bodies() == after
    assert after.keys() == before.keys()
    for pk, value in after.items():
        assert value != before[pk]
        assert decrypts_with(new_key, value)
        assert not any(decrypts_with(k, value) for k in old_keys)
    # and the old key can go: the new key alone reads everything back, replays included
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        assert sorted(Message.objects.values_list("body", flat=True)) == sorted(SECRETS)
        user_id = Event.objects.values_list("user_id", flat=True).first()
        replayed = [f["data"]["body"] for f in events.replay(user_id=user_id, after=0)]
        assert sorted(replayed) == sorted(SECRETS)


def test_rotation_with_nothing_to_do_reports_zero(conversation_with_secrets):
    before = all_raw()
    out, _ = rotate()
    assert "chat.Message.body: 7 rows, 0 re-encrypted" in out
    assert all_raw() == before


def test_rotation_encrypts_leftover_plaintext_and_reports_undecryptable_values(conversation_with_secrets):
    # given: one legacy plaintext value and one under a key nobody has any more
    ids = sorted(raw_values("chat_message", "body"))
    lost_key = Fernet.generate_key().decode()
    foreign = crypto.PREFIX + Fernet(lost_key.encode()).encrypt(b"unreadable").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE chat_message SET body = %s WHERE id = %s", ["plain old text", ids[0]])
        cursor.execute("UPDATE chat_message SET body = %s WHERE id = %s", [foreign, ids[1]])
    new_key = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, *settings.FIELD_ENCRYPTION_KEYS]):
        # when
        with pytest.raises(CommandError, match="1 values decrypt with none"):
            rotate(batch_size=2, no_progress=True)
        # then: everything else moved on
        raw = raw_values("chat_message", "body")
        assert raw[ids[1]] == foreign
        assert decrypts_with(new_key, raw[ids[0]])
        assert crypto.decrypt(raw[ids[0]]) == "plain old text"
        assert all(decrypts_with(new_key, v) for pk, v in raw.items() if pk != ids[1])


@pytest.mark.parametrize("batch_size", [0, -5, 1_000_000])
def test_rotation_refuses_a_silly_batch_size(db, batch_size):
    with pytest.raises(CommandError):
        rotate(batch_size=batch_size)
