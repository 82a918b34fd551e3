"""Client frames: reading their fields, and the `error` frames that answer bad ones.

A frame handler (realtime.registry) reads its fields with `int_field`/`str_field`, which
raise FrameError; any exception a service raises is described as the REST API would name
it (core.errors), so a refusal reads the same over a socket as over REST.
"""

import logging

from core.errors import api_exception, describe
from core.ids import MAX_ID, is_id

log = logging.getLogger(__name__)

MAX_REF_CHARS = 100


class Encoded(str):
    """JSON text already encoded, to be put into a frame as it is (an ack's `data` encoded
    once for the ack and the events alike)."""


class FrameError(Exception):
    """A client frame the gateway refuses; becomes an `error` frame, the socket stays open."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def error_frame(ref, code: str, detail: str) -> dict:
    return {"type": "error", "ref": ref, "code": code, "detail": detail}


def error_from_exception(exc: Exception) -> tuple[str, str]:
    """(code, detail) of an exception raised while handling a frame."""
    if isinstance(exc, FrameError):
        return exc.code, exc.detail
    api_exc = api_exception(exc)
    if api_exc is None:
        return "server_error", "The server could not handle this frame."
    code, detail, fields = describe(api_exc)
    if fields:
        # One frame, one line: the first problem, naming its field.
        name, messages = next(iter(fields.items()))
        detail = messages[0] if name == "non_field_errors" else f"{name}: {messages[0]}"
    return code, detail


def valid_ref(ref) -> bool:
    """A frame's `ref`: absent, a short string or an integer, echoed in its answer."""
    if ref is None or (isinstance(ref, str) and len(ref) <= MAX_REF_CHARS):
        return True
    return isinstance(ref, int) and not isinstance(ref, bool) and abs(ref) <= MAX_ID


def int_field(frame: dict, name: str, *, minimum: int = 1) -> int:
    value = frame.get(name)
    if not is_id(value, minimum=minimum):
        raise FrameError("invalid", f"{name}: must be an integer of at least {minimum}.")
    return value


def str_field(frame: dict, name: str, *, max_chars: int, allow_empty: bool = False) -> str:
    value = frame.get(name)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise FrameError("invalid", f"{name}: must be a {'' if allow_empty else 'non-empty '}string.")
    if len(value) > max_chars:
        raise FrameError("invalid", f"{name}: at most {max_chars} characters.")
    return value
