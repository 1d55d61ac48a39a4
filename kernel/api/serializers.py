from __future__ import annotations

from rest_framework import serializers

from kernel.models.aliases import Alias
from kernel.choices import Lifecycle
from kernel.models.definitions import DefinitionVersion

_datetime = serializers.DateTimeField()


class DocumentSerializer(serializers.BaseSerializer):
    """The flat API document: a version's spec merged with its definition's identity, plus lifecycle state."""

    def to_representation(self, version: DefinitionVersion) -> dict:
        return {
            "id": str(version.id),
            **version.document(),
            "status": version.status,
            "active": version.status == Lifecycle.ACTIVE,
            "is_current": version.is_current,
            "aliases": alias_names(version),
            "created_at": _datetime.to_representation(version.created_at),
            "updated_at": _datetime.to_representation(version.updated_at),
        }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A page of a list is written by PostgreSQL from database_extras (page_documents): a subclass that adds
        # fields must say how the database writes them too.
        if "to_representation" in vars(cls) and "database_extras" not in vars(cls):
            raise TypeError(f"{cls.__name__} overrides to_representation without database_extras")

    @classmethod
    def database_extras(cls) -> dict:
        """The fields a kind adds after ``updated_at``, as PostgreSQL builds them for a page of a list
        (``kernel.fastpaths.page_documents``): name -> field path or expression, in order."""
        return {}


def alias_names(version: DefinitionVersion) -> list[str]:
    """The aliases pointing at ``version``: read with it (``VersionQuerySet.with_aliases``), attached for a page
    (``attach_aliases``), or else queried."""
    if hasattr(version, "alias_csv"):
        return sorted(version.alias_csv.split(",")) if version.alias_csv else []
    if not hasattr(version, "_aliases"):
        attach_aliases([version])
    return version._aliases


def attach_aliases(versions) -> None:
    """Read the aliases of a page of versions (of one kind) in one query."""
    versions = list(versions)
    if not versions:
        return
    model = type(versions[0])
    kind = model._meta.get_field(model.parent_field).related_model.kind
    found = Alias.names_by_version(kind, [v.pk for v in versions])
    for version in versions:
        version._aliases = found.get(version.pk, [])


READ_ONLY_PROPERTIES = {
    "id": {"type": "string", "format": "uuid", "readOnly": True},
    "status": {"type": "string", "enum": ["active", "deprecated", "archived"], "readOnly": True},
    "active": {"type": "boolean", "readOnly": True, "description": "status is active (the platform's own field)."},
    "is_current": {"type": "boolean", "readOnly": True},
    "aliases": {"type": "array", "items": {"type": "string"}, "readOnly": True, "description": "Aliases pointing at this version."},
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
}

# Server-managed fields a client may send back with a document as GET returned it: accepted and ignored (with a
# warning), so a request schema must allow them. No readOnly flag: generated clients would drop them.
SENT_BACK_PROPERTIES = {
    name: {"description": f"Server-managed ({name}); ignored when sent, with a read_only_ignored warning."}
    for name in ("id", "status", "active", "is_current", "aliases", "created_at", "updated_at", "warnings")
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
