"""Secrets at rest: a Fernet-encrypted text field over FIELD_ENCRYPTION_KEYS, a keyed hash
(HMAC) field that stands in for an encrypted value in lookups and unique constraints, and the
digest that stands in for a credential (API tokens and session keys are never stored or
published as themselves).

The keys are MultiFernet's, newest first: the newest encrypts, every key decrypts, so a
new key can be put in front and `rotate_encryption_keys` re-encrypts the stored rows.
"""

import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

PREFIX = "fernet:"


def digest(secret: str) -> str:
    """SHA-256 hex of a random credential (a token key, a session key): what is stored and
    named in channel-layer groups instead of the credential."""
    return hashlib.sha256(secret.encode()).hexdigest()


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return PREFIX + fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("stored value is not ciphertext")
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ValueError("ciphertext does not decrypt with any configured key") from exc


@cache
def _hash_keys(keys: tuple[str, ...]) -> tuple[bytes, ...]:
    # Each Fernet key yields its own HMAC key, so rotation covers the hashes too.
    return tuple(hashlib.sha256(b"keyed-hash:" + key.encode()).digest() for key in keys)


def keyed_hash(value: str, *, key_index: int = 0) -> str:
    """HMAC-SHA256 hex of `value` under the newest key (or another, by index)."""
    key = _hash_keys(tuple(settings.FIELD_ENCRYPTION_KEYS))[key_index]
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def keyed_hashes(value: str) -> list[str]:
    """`value`'s HMAC under every configured key, newest first: what a lookup matches while
    a rotation is under way."""
    return [keyed_hash(value, key_index=i) for i in range(len(settings.FIELD_ENCRYPTION_KEYS))]


def rotate(stored: str) -> str:
    """Re-encrypts a stored value with the newest key (a no-op in meaning)."""
    return PREFIX + fernet().rotate(stored[len(PREFIX) :].encode()).decode()


def is_current(stored: str) -> bool:
    """True when the newest key alone decrypts this value."""
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode()).decrypt(stored[len(PREFIX) :].encode())
    except InvalidToken:
        return False
    return True


class EncryptedTextField(models.TextField):
    """Stores text as Fernet ciphertext; Python code sees plaintext.

    The column cannot be searched or compared; length limits apply to the plaintext and are
    checked by the services. dumpdata writes the ciphertext, so a backup holds no plaintext
    either; loaddata takes it back (it restores under the same key set, or a newer set that
    still lists the key it was written with).
    """

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return None if value is None else encrypt(str(value))

    def to_python(self, value):
        if isinstance(value, str) and value.startswith(PREFIX):
            try:
                return decrypt(value)
            except ValueError:
                return value
        return value

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return value
        return encrypt(value)


class KeyedHashField(models.CharField):
    """The HMAC (`keyed_hash`) of another field of the same row (`source`, casefolded when
    `casefold`), set on every save that writes this field: it lets an encrypted column be
    looked up and kept unique without storing it in the clear. Look up with
    `<field>__in=keyed_hashes(value)`. `rotate_encryption_keys` recomputes it under the
    newest key. A queryset `update()` of the source bypasses it: write through save().
    """

    def __init__(self, *args, source: str = "", casefold: bool = False, **kwargs):
        self.source = source
        self.casefold = casefold
        kwargs.setdefault("max_length", 64)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        if self.casefold:
            kwargs["casefold"] = True
        if kwargs.get("max_length") == 64:
            del kwargs["max_length"]
        return name, path, args, kwargs

    def hash_of(self, value) -> str | None:
        if value is None:
            return None
        text = str(value)
        return keyed_hash(text.casefold() if self.casefold else text)

    def pre_save(self, model_instance, add):
        value = self.hash_of(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value
