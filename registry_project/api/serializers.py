from __future__ import annotations

from rest_framework import serializers

from registry_project.definitions import DefinitionVersion

_datetime = serializers.DateTimeField()


class DocumentSerializer(serializers.BaseSerializer):
    """The flat API document: a version's spec merged with its definition's identity, plus lifecycle state."""

    def to_representation(self, version: DefinitionVersion) -> dict:
        return {
            "id": str(version.id),
            **version.document(),
            "status": version.status,
            "is_current": version.is_current,
            "created_at": _datetime.to_representation(version.created_at),
            "updated_at": _datetime.to_representation(version.updated_at),
        }


READ_ONLY_PROPERTIES = {
    "id": {"type": "string", "format": "uuid", "readOnly": True},
    "status": {"type": "string", "enum": ["active", "deprecated", "archived"], "readOnly": True},
    "is_current": {"type": "boolean", "readOnly": True},
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
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
