"""JSON errors everywhere: `{"detail", "code", "fields"?}` with the right 4xx, never a 500
for bad input."""

import sys

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This conflicts with the current state."
    default_code = "conflict"


class Unavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable; try again shortly."
    default_code = "unavailable"


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


def error_body(detail: str, code: str, fields: dict | None = None) -> dict:
    body = {"detail": detail, "code": code}
    if fields is not None:
        body["fields"] = fields
    return body


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        exc = Unavailable()
    elif isinstance(exc, DatabaseError):
        return None

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.values()), ["Invalid input."])[0]
        body = error_body(first if len(fields) == 1 else "Invalid input.", "invalid", fields)
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        if isinstance(exc, exceptions.Throttled):
            code = "throttled"
        body = error_body(str(detail), code)
    return Response(body, status=response.status_code, headers={k: v for k, v in response.items()})


def json_error(status_code: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(detail, code), status=status_code)


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
    if isinstance(exc, (OperationalError, InterfaceError)):
        return json_error(503, "The database is unavailable; try again shortly.", "unavailable")
    return json_error(500, "Server error.", "server_error")


def handler400(request, exception=None):
    return json_error(400, "Bad request.", "bad_request")


def handler403(request, exception=None):
    return json_error(403, "Forbidden.", "permission_denied")


def csrf_failure(request, reason=""):
    return json_error(403, "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's value.", "csrf_failed")
