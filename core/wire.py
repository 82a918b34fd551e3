"""Helpers for the hot wire shapes (a user brief, a message) that go out with every event.

DRF serializers stay the one description of each shape (the OpenAPI schema reads them);
for the shapes sent on every message, `represented_by` lets a serializer hand its
output to a plain function instead of building its field tree for every object, which
cost about a tenth of a node's CPU per message. tests/unit/test_wire.py holds each function to
the output of the serializer's own declared fields.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def iso_time(value: datetime) -> str:
    """A time as DRF writes it: ISO 8601 in UTC with a `Z`."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def file_url(instance, field_name: str) -> str | None:
    """The URL of a model instance's stored file, or None when the field holds none:
    `file_url(post, "image")` for `post.image.url if post.image else None`.

    It reads the stored name instead of the field: the first read of a file field caches a
    FieldFile on the instance that refers back to it, a reference cycle that only a full
    garbage collection frees, and asgi.py's GC tuning makes those rare on a node, so every
    user, post and message whose file URL went out outlived its socket or request (the soak
    saw every socket's user left behind). A deferred field loads as usual."""
    field = instance._meta.get_field(field_name)
    stored = instance.__dict__[field.attname] if field.attname in instance.__dict__ else getattr(instance, field_name)
    name = getattr(stored, "name", stored)  # a FieldFile once the field was read or saved
    return field.storage.url(name) if name else None


def represented_by(represent: Callable[[Any], dict]):
    """A serializer's `to_representation` that is `represent(instance)`:
    `to_representation = represented_by(user_brief)`."""

    def to_representation(self, instance) -> dict:
        return represent(instance)

    return to_representation
