"""``GET /api/v1/stats``: the stored statistics snapshot (``kernel.stats``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel import stats
from kernel.api.auth import work_refused
from kernel.api.errors import QueryParameterInvalid
from kernel.api.filtersets import StrictQueryParameters

BOOLEANS = {"true": True, "1": True, "false": False, "0": False}

STATS_SCHEMA = {
    "type": "object",
    "required": ["refreshed_at", "duration_ms"],
    "properties": {
        "refreshed_at": {"type": "string", "format": "date-time"},
        "duration_ms": {"type": "integer", "description": "How long the refresh took."},
    },
    "additionalProperties": {"type": "object", "description": "One section per app: models, pipelines, policies, ..."},
}

REFRESH_PARAMETER = OpenApiParameter(
    "refresh",
    bool,
    OpenApiParameter.QUERY,
    required=False,
    description="Recompute first (staff only, and not with a read-only key: 403).",
)


class StatsView(StrictQueryParameters, APIView):
    """The registry's statistics as of `refreshed_at` (beat refreshes them every STATS_REFRESH_SECONDS); staff may
    ask for a fresh snapshot with `?refresh=true`."""

    query_parameters = {"get": ("refresh",)}

    @extend_schema(
        operation_id="stats_retrieve",
        parameters=[REFRESH_PARAMETER],
        responses={200: STATS_SCHEMA},
    )
    def get(self, request):
        snapshot = snapshot_for(request)
        return Response(
            {"refreshed_at": snapshot.refreshed_at.isoformat(), "duration_ms": snapshot.duration_ms, **snapshot.data}
        )


def snapshot_for(request):
    """The stored snapshot, or with ``?refresh=true`` (staff with a read-write key or a session) a fresh one (the views refuse other parameters)."""
    raw = request.query_params.get("refresh", "false").strip().lower()
    if raw not in BOOLEANS:
        raise QueryParameterInvalid({"refresh": [exceptions.ErrorDetail("Expected true or false.", code="invalid")]})
    if BOOLEANS[raw]:
        refused = work_refused(request)
        if refused:
            raise exceptions.PermissionDenied(refused)
        return stats.refresh()
    return stats.current()
