from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.response import Response


class CursorPagination(pagination.CursorPagination):
    """Lists: `{"results": [...], "next": url|null}`, newest first by default.

    Views order by a unique, monotonic key (`-id`) so a cursor never skips or repeats a row
    when rows are added while a client pages. A cursor is client input: one whose position
    does not fit the ordering field (`p=abc` for an id) is a 404 "Invalid cursor", like a
    cursor that does not decode, never a 500.
    """

    ordering = "-id"
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, OverflowError, DjangoValidationError, DataError):
            raise NotFound(self.invalid_cursor_message)

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
            },
        }
