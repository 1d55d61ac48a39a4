"""``GET /api/v1/changes`` and every object's ``/history``: the change log, read-only, oldest first, paginated by
an id cursor (``after_id``) so a reader can follow it without missing or repeating an entry."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from kernel.api.errors import QueryParameterInvalid
from kernel.api.filtersets import (
    CHECKED_BY_HANDLER,
    StrictQueryParameters,
    UTCDateTimeFilter,
    reject_unknown_parameters,
)
from kernel.api.pagination import bounded_int
from kernel.api.schema import filter_bounds
from kernel.models.changelog import ChangeLogEntry

MAX_ID = 2**63 - 1
CHANGES_PAGE_DEFAULT = 50
CHANGES_PAGE_MAX = 500


class ChangeLogFilterSet(django_filters.FilterSet):
    kind = django_filters.CharFilter(max_length=32)
    name = django_filters.CharFilter(max_length=128)
    action = django_filters.CharFilter(
        method="filter_action", max_length=64, help_text="An action, or a prefix ending in `*` (`model.*`)."
    )
    actor = django_filters.CharFilter(
        max_length=150, help_text="user:<name>, api-key:<prefix>, job:<name>, command:<name> or system."
    )
    since = UTCDateTimeFilter(field_name="at", lookup_expr="gte", help_text="Entries at or after this time (ISO 8601).")
    until = UTCDateTimeFilter(field_name="at", lookup_expr="lt", help_text="Entries before this time (ISO 8601).")

    class Meta:
        model = ChangeLogEntry
        fields: list[str] = []

    def filter_action(self, queryset, name, value):
        if value.endswith("*"):
            return queryset.filter(action__startswith=value[:-1])
        return queryset.filter(action=value)


PAGING_PARAMETERS = ("after_id", "limit")
OBJECT_FILTERS = ("kind", "name")


def changes_parameters(*, with_object: bool) -> list[OpenApiParameter]:
    filters = {n: f for n, f in ChangeLogFilterSet.base_filters.items() if with_object or n not in OBJECT_FILTERS}
    params = [
        OpenApiParameter(
            n,
            {"type": "string", "format": "date-time"}
            if n in ("since", "until")
            else {"type": "string", **filter_bounds(f)},
            OpenApiParameter.QUERY,
            description=f.extra.get("help_text", ""),
        )
        for n, f in filters.items()
    ]
    return [
        *params,
        OpenApiParameter(
            "after_id",
            {"type": "integer", "minimum": 0, "maximum": MAX_ID, "default": 0},
            OpenApiParameter.QUERY,
            description="Cursor: entries with a larger id (from `next_after_id`).",
        ),
        OpenApiParameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": CHANGES_PAGE_MAX, "default": CHANGES_PAGE_DEFAULT},
            OpenApiParameter.QUERY,
        ),
    ]


CHANGE_ENTRY_SCHEMA = {
    "type": "object",
    "required": ["id", "at", "actor", "request_id", "action", "kind", "name", "version", "object_id", "changes"],
    "properties": {
        "id": {"type": "integer", "description": "Monotonic; the cursor."},
        "at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string"},
        "request_id": {"type": "string"},
        "action": {"type": "string", "examples": ["model.version_activated"]},
        "kind": {"type": "string"},
        "name": {"type": "string"},
        "version": {"type": "string"},
        "object_id": {"type": "string"},
        "changes": {
            "type": "object",
            "description": "{field: [before, after]}; a registration names its spec's sha256.",
        },
    },
}


def changes_page_schema(schema) -> dict:
    entry = schema.component("ChangeLogEntry", CHANGE_ENTRY_SCHEMA)
    return {
        "type": "object",
        "required": ["results", "next", "next_after_id"],
        "properties": {
            "results": {"type": "array", "items": entry},
            "next": {
                "type": ["string", "null"],
                "format": "uri",
                "description": "The next page, or null at the end (so far).",
            },
            "next_after_id": {"type": "integer", "description": "The cursor to poll from next (the last id returned)."},
        },
    }


def changes_response(request, queryset, *, with_object: bool = True) -> Response:
    """One page of ``queryset`` filtered by the request's parameters; an unknown parameter is a 400."""
    allowed = {
        *(n for n in ChangeLogFilterSet.base_filters if with_object or n not in OBJECT_FILTERS),
        *PAGING_PARAMETERS,
    }
    reject_unknown_parameters(request, allowed)
    filterset = ChangeLogFilterSet(request.query_params, queryset=queryset.visible_to(request.user))
    if not filterset.is_valid():
        raise QueryParameterInvalid(filterset.errors)
    after_id = bounded_int(request, "after_id", 0, 0, MAX_ID)
    limit = bounded_int(request, "limit", CHANGES_PAGE_DEFAULT, 1, CHANGES_PAGE_MAX)
    rows = list(filterset.qs.filter(id__gt=after_id).order_by("id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    # A follower keeps polling from next_after_id; ``next`` is only given while more entries are waiting.
    next_after_id = rows[-1].id if rows else after_id
    next_url = replace_query_param(request.build_absolute_uri(), "after_id", next_after_id) if more else None
    return Response({"results": [row.as_dict() for row in rows], "next": next_url, "next_after_id": next_after_id})


class ChangeLogView(StrictQueryParameters, generics.GenericAPIView):
    """The registry's change log across every kind: who changed what, when (read-only; entries are never edited)."""

    queryset = ChangeLogEntry.objects.all()
    pagination_class = None
    filter_backends: list = []
    query_parameters = {"get": CHECKED_BY_HANDLER}

    @extend_schema(parameters=changes_parameters(with_object=True), operation_id="changes_list")
    def get(self, request):
        return changes_response(request, self.get_queryset())

    def openapi_responses(self, schema):
        return {200: changes_page_schema(schema)}
