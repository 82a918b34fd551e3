"""Email addresses at rest: encrypted like DM bodies, found and kept unique by their HMAC."""

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.test import override_settings

from accounts.models import User
from accounts.selectors import user_get_by_email
from core import crypto
from tests.unit.test_encryption import decrypts_with, rotate

pytestmark = pytest.mark.django_db

ADDRESSES = ["Alice.Secret@Example.com", "bob.hidden@example.org", "carol.private@example.net"]


def raw_users() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_user")
        return cursor.fetchall()


def register_all():
    from accounts.services import user_register

    for i, address in enumerate(ADDRESSES):
        user_register(username=f"person{i}", email=address, password="violet-harbour-lantern-42")


def test_the_raw_user_table_holds_no_address():
    register_all()
    dump = repr(raw_users()).casefold()
    for address in ADDRESSES:
        assert address.casefold() not in dump
        assert address.split("@")[0].casefold() not in dump
    assert "example" not in dump
    assert sorted(User.objects.values_list("email", flat=True)) == sorted(
        User.objects.normalize_email(a) for a in ADDRESSES
    )


def test_an_account_is_found_by_its_address_in_any_case():
    register_all()
    assert user_get_by_email(email="alice.secret@EXAMPLE.com").username == "person0"
    assert user_get_by_email(email="nobody@example.com") is None


def test_addresses_are_unique_whatever_their_case(api_client):
    register_all()
    response = api_client.post(
        "/api/auth/register",
        {"username": "copycat", "email": "BOB.HIDDEN@example.org", "password": "violet-harbour-lantern-42"},
        format="json",
    )
    # registration does not tell (the new account gets no address), the owner keeps it
    assert response.status_code == 201
    assert User.objects.get(username="copycat").email is None
    assert user_get_by_email(email="bob.hidden@example.org").username == "person1"
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="racer", email="carol.private@EXAMPLE.NET")


def test_rotation_reencrypts_and_rehashes_addresses_and_lookups_work_throughout():
    # given: addresses under the old key
    register_all()
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, *old_keys]):
        # then: before rotation, lookups still match the old hashes
        assert user_get_by_email(email=ADDRESSES[1]).username == "person1"
        # when
        out, _ = rotate(no_progress=True)
        # then
        assert "accounts.User.email: 3 rows, 3 re-encrypted" in out
        assert "accounts.User.email_hash: 3 rehashed" in out
        assert "accounts.User.email_hash: 0 rehashed" in rotate(no_progress=True)[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT email FROM accounts_user")
        assert all(decrypts_with(new_key, raw) for (raw,) in cursor.fetchall())
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        assert user_get_by_email(email=ADDRESSES[2].upper()).username == "person2"
        assert sorted(User.objects.values_list("email", flat=True)) == sorted(
            User.objects.normalize_email(a) for a in ADDRESSES
        )


def test_the_hash_follows_the_address_on_save():
    register_all()
    user = User.objects.get(username="person0")
    user.email = "new.place@example.com"
    user.save()
    assert user_get_by_email(email="NEW.place@example.com") == user
    assert user_get_by_email(email=ADDRESSES[0]) is None
    assert user.email_hash == crypto.keyed_hash("new.place@example.com")
