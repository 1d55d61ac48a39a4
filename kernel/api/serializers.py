from __future__ import annotations

from rest_framework import serializers

from kernel.documents.shape import ID_FIELD, LIFECYCLE_FIELDS, WARNINGS_KEY, api_document
from kernel.models.definitions import DefinitionVersion


class DocumentSerializer(serializers.BaseSerializer):
    """The flat API document: a version's spec merged with its definition's identity, plus lifecycle state, as
    ``kernel.documents.shape`` declares it for the version's kind (``api_document``)."""

    def to_representation(self, version: DefinitionVersion) -> dict:
        return api_document(version)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A page of a list is written by PostgreSQL from the same declarations (page_documents): a field added here
        # would be missing from it.
        if "to_representation" in vars(cls):
            message = "declare the field in the version model's document_extras"
            raise TypeError(f"{cls.__name__} overrides to_representation: {message}")


# The OpenAPI properties of the server-managed fields every document carries (a kind's own come from its
# document_extras: DefinitionViewSet.document_schemas).
READ_ONLY_PROPERTIES = {field.name: field.schema for field in (ID_FIELD, *LIFECYCLE_FIELDS)}

# Server-managed fields a client may send back with a document as GET returned it: accepted and ignored (with a
# warning), so a request schema must allow them. No readOnly flag: generated clients would drop them.
SENT_BACK_PROPERTIES = {
    name: {"description": f"Server-managed ({name}); ignored when sent, with a read_only_ignored warning."}
    for name in (*READ_ONLY_PROPERTIES, WARNINGS_KEY)
}

ISSUE_SCHEMA = {
    "type": "object",
    "required": ["path", "code", "message"],
    "properties": {"path": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}},
}

VALIDATION_REPORT_SCHEMA = {
    "type": "object",
    "required": ["valid", "errors", "warnings"],
    "properties": {
        "valid": {"type": "boolean"},
        "errors": {"type": "array", "items": ISSUE_SCHEMA},
        "warnings": {"type": "array", "items": ISSUE_SCHEMA},
    },
}
