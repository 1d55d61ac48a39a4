"""What OPTIONS answers: the endpoint's name, description and media types, plus DRF's field description for
endpoints that have a serializer. Request and response bodies are described in full by the OpenAPI schema."""

from __future__ import annotations

from rest_framework.metadata import SimpleMetadata


class RegistryMetadata(SimpleMetadata):
    """The default for every view: a viewset without a ``serializer_class`` (its actions take or return JSON the
    OpenAPI schema describes) answers without an ``actions`` block instead of failing."""

    def determine_actions(self, request, view):
        if getattr(view, "serializer_class", None) is None:
            return {}
        return super().determine_actions(request, view)


class DocumentMetadata(RegistryMetadata):
    """Documents are described by the JSON Schema in the OpenAPI schema, not by serializer fields."""

    def determine_actions(self, request, view):
        return {}
