"""Database ids as clients send them: integers in PostgreSQL's bigint range.

One definition for every door (REST paths and bodies, socket frames, handshake queries), so
an id that would overflow the column is refused as input instead of failing in the database.
"""

from typing import TypeGuard

MAX_ID = 2**63 - 1
# The longest decimal text of an id (a `?after=` or a path segment).
MAX_ID_DIGITS = len(str(MAX_ID))


def is_id(value, *, minimum: int = 1) -> TypeGuard[int]:
    """True for an int (not a bool) between `minimum` and MAX_ID."""
    return not isinstance(value, bool) and isinstance(value, int) and minimum <= value <= MAX_ID


def parse_id(text: str | None, *, minimum: int = 1) -> int | None:
    """The id written in decimal `text`, or None when it is not one."""
    if text is None or not text.isascii() or not text.isdigit() or len(text) > MAX_ID_DIGITS:
        return None
    value = int(text)
    return value if minimum <= value <= MAX_ID else None
