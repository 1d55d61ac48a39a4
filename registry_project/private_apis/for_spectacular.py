"""drf-spectacular's private APIs: the ``AutoSchema`` methods it documents no override for, behind public hooks.

Read in drf-spectacular 0.30.0."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema


class AutoSchemaHooks(AutoSchema):
    """``AutoSchema`` whose private steps each end in a public hook a subclass overrides; by default every hook
    hands back what it is given.

    Relies on ``AutoSchema._get_request_body(direction)`` (the operation's ``requestBody`` or None),
    ``_is_list_view(serializer)`` (whether the response is a paginated list), ``_get_filter_parameters()``,
    ``_get_parameters()`` (every parameter, as dicts) and ``_get_response_bodies(direction)`` (status -> response
    object), as drf-spectacular 0.30.0 names and calls them from ``get_operation``."""

    def adjust_request_body(self, body: dict | None) -> dict | None:
        return body

    def paginated_beyond_list(self) -> bool:
        """True for a view action other than ``list`` whose response is a paginated page."""
        return False

    def adjust_filter_parameters(self, parameters: list[dict]) -> list[dict]:
        return parameters

    def adjust_parameters(self, parameters: list[dict]) -> list[dict]:
        return parameters

    def adjust_response_bodies(self, responses: dict) -> dict:
        return responses

    def _get_request_body(self, direction="request"):
        return self.adjust_request_body(super()._get_request_body(direction))

    def _is_list_view(self, serializer=None) -> bool:
        return self.paginated_beyond_list() or super()._is_list_view(serializer)

    def _get_filter_parameters(self):
        return self.adjust_filter_parameters(super()._get_filter_parameters())

    def _get_parameters(self):
        return self.adjust_parameters(super()._get_parameters())

    def _get_response_bodies(self, direction="response"):
        return self.adjust_response_bodies(super()._get_response_bodies(direction))
