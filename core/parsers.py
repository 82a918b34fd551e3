"""Request body parsers with bounds: JSON bodies are small and shallow, or refused.

DRF's JSONParser reads the whole stream (DATA_UPLOAD_MAX_MEMORY_SIZE does not apply to it)
and lets a deeply nested document raise RecursionError (a 500). This one refuses a body over
JSON_MAX_BYTES with 413 `too_large` before reading it whole, and answers nesting too deep
to decode with 400 `parse_error`.
"""

import io

from django.conf import settings
from rest_framework import exceptions, parsers, status

from core.http import declared_length


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.JSON_MAX_BYTES
        request = (parser_context or {}).get("request")
        meta = getattr(request, "META", {}) if request is not None else {}
        if (declared_length(meta) or 0) > limit:
            raise RequestTooLarge(f"A JSON body has at most {limit // 1024} KiB.")
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestTooLarge(f"A JSON body has at most {limit // 1024} KiB.")
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.")
