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


def represented_by(represent: Callable[[Any], dict]):
    """A serializer's `to_representation` that is `represent(instance)`:
    `to_representation = represented_by(user_brief)`."""

    def to_representation(self, instance) -> dict:
        return represent(instance)

    return to_representation
