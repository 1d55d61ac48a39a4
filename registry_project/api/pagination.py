from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination

from registry_project.api.errors import QueryParameterInvalid

MAX_OFFSET = 10**9


def _bounded_int(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryParameterInvalid({name: [f"'{raw[:40]}' is not a whole number."]}) from None
    if not low <= value <= high:
        raise QueryParameterInvalid({name: [f"Must be between {low} and {high}; got {value}."]})
    return value


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """limit/offset pagination that says so when a limit or offset is out of range, instead of clamping."""

    max_limit = settings.API_MAX_PAGE_SIZE

    def get_limit(self, request) -> int:
        return _bounded_int(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request) -> int:
        return _bounded_int(request, self.offset_query_param, 0, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"] = {**parameter["schema"], **bounds.get(parameter["name"], {})}
        return parameters
