"""Pagination: keyset (cursor) pages on (ordering field, id), which cost the same however deep,
and numbered pages for short lists.

DRF's CursorPagination pages through ties with an offset, and thousands of quotes
share one as_of; here the cursor holds the last row's (value, id), and the next
page is a single index range scan from there.
"""

import base64
import json
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db.models import F
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from core.middleware import request_meta
from core.values import datetime_checked, decimal_checked

_PARSERS = {
    "as_of": lambda v: datetime_checked(datetime.fromisoformat(v)),
    "price_usd": lambda v: decimal_checked(Decimal(v)),
    "id": int,
}


def page_size_parse(raw: str | None, *, default: int, maximum: int) -> int:
    """The `page_size` parameter: absent means `default`; anything but a whole number from 1 to `maximum` is a 400."""
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ValidationError({"page_size": [f"Must be a whole number from 1 to {maximum}."]})
    return int(raw)


class KeysetPagination(BasePagination):
    page_size = 100
    max_page_size = 1000
    ordering_fields = ("as_of", "price_usd")
    default_ordering = "-as_of"
    # What the links are built from: a page of `values()` rows must hold these.
    key_fields = ("id", *ordering_fields)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size_value = self._page_size(request)
        self.ordering = request.query_params.get("ordering", self.default_ordering)
        field = self.ordering.lstrip("-")
        if field not in self.ordering_fields:
            allowed = ", ".join(f"{f}, -{f}" for f in self.ordering_fields)
            raise ValidationError({"ordering": [f"Unknown ordering {self.ordering!r}; use one of: {allowed}."]})
        self.field, self.descending = field, self.ordering.startswith("-")
        cursor = self._cursor_decode(request.query_params.get("cursor"))
        backwards = bool(cursor and cursor["d"] == "p")

        # Walking backwards, read in the opposite order and flip the page.
        descending = self.descending != backwards
        order = (f"-{field}", "-id") if descending else (field, "id")
        if cursor and field == "id":
            queryset = queryset.filter(**{"id__lt" if descending else "id__gt": cursor["id"]})
        elif cursor:
            compare = TupleLessThan if descending else TupleGreaterThan
            queryset = queryset.filter(compare(Tuple(F(field), F("id")), (cursor["v"], cursor["id"])))
        rows = list(queryset.order_by(*dict.fromkeys(order))[: self.page_size_value + 1])
        more = len(rows) > self.page_size_value
        rows = rows[: self.page_size_value]
        if backwards:
            rows.reverse()
        self.has_next = more if not backwards else True
        self.has_previous = more if backwards else cursor is not None
        self.rows = rows
        return rows

    def get_paginated_response(self, data):
        return Response(
            {
                "results": data,
                "next": self._link("n", self.rows[-1]) if self.has_next and self.rows else None,
                "previous": self._link("p", self.rows[0]) if self.has_previous and self.rows else None,
                "meta": {**request_meta(self.request), "page_size": self.page_size_value, "ordering": self.ordering},
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next", "previous", "meta"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "meta": {
                    "type": "object",
                    "properties": {
                        "request_id": {"type": "string"},
                        "api_latency_ms": {"type": "number"},
                        "page_size": {"type": "integer"},
                        "ordering": {"type": "string"},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "Opaque position from a previous response's next or previous link.",
            },
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
            },
            {
                "name": "ordering",
                "in": "query",
                "required": False,
                "schema": {
                    "type": "string",
                    "enum": [o for f in self.ordering_fields for o in (f"-{f}", f)],
                    "default": self.default_ordering,
                },
            },
        ]

    def _page_size(self, request) -> int:
        return page_size_parse(
            request.query_params.get("page_size"), default=self.page_size, maximum=self.max_page_size
        )

    def _cursor_decode(self, raw: str | None) -> dict | None:
        if not raw:
            return None
        try:
            cursor = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
            if cursor["o"] != self.ordering or cursor["d"] not in ("n", "p"):
                raise ValueError("cursor belongs to another ordering")
            cursor["v"] = _PARSERS[self.field](cursor["v"])
            cursor["id"] = int(cursor["id"])
        except (ValueError, KeyError, TypeError, InvalidOperation, json.JSONDecodeError) as exc:
            raise ValidationError({"cursor": ["Invalid cursor: use the next or previous link as given."]}) from exc
        return cursor

    def _link(self, direction: str, row) -> str:
        # A row is a model instance, or a dict of `values()` that holds `key_fields`.
        value, pk = (row[self.field], row["id"]) if isinstance(row, dict) else (getattr(row, self.field), row.pk)
        token = {
            "o": self.ordering,
            "d": direction,
            "v": value.isoformat() if hasattr(value, "isoformat") else str(value),
            "id": pk,
        }
        encoded = base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode().rstrip("=")
        url = remove_query_param(self.request.build_absolute_uri(), "cursor")
        return replace_query_param(url, "cursor", encoded)


class NumberedPagination(PageNumberPagination):
    """Numbered pages for short lists ordered by a nullable field (coins by rank), which a keyset cannot walk."""

    page_size = 100
    page_size_query_param = "page_size"
    page_size_query_description = "Items per page, 1 to 500 (default 100)."
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        return page_size_parse(raw, default=self.page_size, maximum=self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:  # DRF's answer to a page that is not a number or past the end
            raise ValidationError({self.page_query_param: [str(exc.detail)]}) from exc

    def get_schema_operation_parameters(self, view):
        # The real bounds, so that a client (or a fuzzer) knows them before a 400 tells it.
        bounds = {
            self.page_query_param: {"minimum": 1, "default": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters

    def get_paginated_response(self, data):
        return Response(
            {
                "results": data,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "meta": {
                    **request_meta(self.request),
                    "count": self.page.paginator.count,
                    "page": self.page.number,
                    "page_size": self.page.paginator.per_page,
                },
            }
        )

    def get_paginated_response_schema(self, schema):
        # The envelope of /data; only the meta differs.
        envelope = KeysetPagination().get_paginated_response_schema(schema)
        meta = envelope["properties"]["meta"]["properties"]
        del meta["ordering"]
        meta.update(count={"type": "integer"}, page={"type": "integer"})
        return envelope
