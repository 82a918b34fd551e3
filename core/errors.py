"""JSON errors everywhere: `{"detail", "code", "fields"?}` with the right 4xx, never a 500
for bad input.

`api_exception` names what went wrong as a DRF exception and `describe` turns it into the
`(code, detail, fields)` a client reads: the REST exception handler and the gateway's error
frames both go through these two, so a refusal reads the same over either door.
"""

import sys
from typing import NamedTuple

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

UNAVAILABLE_DETAIL = "The database is unavailable; try again shortly."
# What counts as "the database is unreachable" (a 503 / `unavailable`, not a 500).
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This conflicts with the current state."
    default_code = "conflict"


class Unavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = UNAVAILABLE_DETAIL
    default_code = "unavailable"


class ErrorDescription(NamedTuple):
    code: str
    detail: str
    fields: dict[str, list[str]] | None


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out = {}
        for name, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    out[f"{name}.{sub}"] = messages
            elif isinstance(value, list):
                out[name] = [str(v) for v in value if not isinstance(v, (dict, list))] or [str(value)]
            else:
                out[name] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


def api_exception(exc: BaseException) -> exceptions.APIException | None:
    """The DRF exception a client should see for `exc`, or None for a real server error
    (an unexpected exception, a database error other than unreachability)."""
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return Unavailable()
    return None


def describe(exc: exceptions.APIException) -> ErrorDescription:
    """`(code, detail, fields)` of an API exception; `fields` only for validation errors,
    whose detail is the single message when one field failed."""
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.values()), ["Invalid input."])[0]
        return ErrorDescription("invalid", first if len(fields) == 1 else "Invalid input.", fields)
    if isinstance(exc, exceptions.Throttled):
        return ErrorDescription("throttled", str(exc.detail), None)
    codes = exc.get_codes()
    return ErrorDescription(codes if isinstance(codes, str) else exc.default_code, str(exc.detail), None)


def error_body(detail: str, code: str, fields: dict | None = None) -> dict:
    body: dict[str, object] = {"detail": detail, "code": code}
    if fields is not None:
        body["fields"] = fields
    return body


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every API error as `{detail, code, fields?}`."""
    # rest_framework.views reads DEFAULT_THROTTLE_CLASSES (core.throttling, which uses this
    # module) when it is first imported: importing it at the top would be an import cycle.
    from rest_framework.views import exception_handler as drf_exception_handler

    api_exc = api_exception(exc)
    if api_exc is None:
        return None
    response = drf_exception_handler(api_exc, context)
    if response is None:
        return None
    code, detail, fields = describe(api_exc)
    return Response(error_body(detail, code, fields), status=response.status_code, headers=dict(response.items()))


def json_error(status_code: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(detail, code), status=status_code)


def unavailable_response() -> JsonResponse:
    return json_error(503, UNAVAILABLE_DETAIL, "unavailable")


# Django-level handlers (outside DRF views): JSON under /api/.
def handler404(request, exception=None):
    return json_error(404, "Not found.", "not_found")


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Any other path under /api/ (a trailing-slash variant, an unknown resource): a JSON
    404 whatever the method, also with DEBUG on, where Django would answer with HTML."""
    return json_error(404, "Not found.", "not_found")


def handler500(request):
    # Called inside Django's except block: a database outage anywhere (middleware included)
    # is a 503 the client can retry, not a 500.
    exc = sys.exc_info()[1]
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return unavailable_response()
    return json_error(500, "Server error.", "server_error")


def handler400(request, exception=None):
    return json_error(400, "Bad request.", "bad_request")


def handler403(request, exception=None):
    return json_error(403, "Forbidden.", "permission_denied")


def csrf_failure(request, reason=""):
    return json_error(
        403, "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's value.", "csrf_failed"
    )
