"""The generic REST surface of a versioned definition kind. An app subclasses ``DefinitionViewSet`` and sets
``definition_model`` and ``filterset_class``; every verb calls a model method, no rule lives here."""

from __future__ import annotations

from typing import ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.metadata import SimpleMetadata
from rest_framework.response import Response

from registry_project.api.schema import inline_defs
from registry_project.api.serializers import READ_ONLY_PROPERTIES, VALIDATION_REPORT_SCHEMA, DocumentSerializer, ISSUE_SCHEMA
from registry_project.definitions import Definition, DefinitionVersion, Registration
from registry_project.exceptions import DefinitionNotFound
from registry_project.filtersets import StrictFilterBackend

NAME_REGEX = r"[a-z0-9][a-z0-9._-]{0,127}"
VERSION_REGEX = r"[^/]+"
UUID_REGEX = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

VERSION_PARAM = OpenApiParameter(
    "version", str, OpenApiParameter.QUERY, required=False,
    description="A version number, `latest` (highest release, the default) or `current` (the activated one).",
)


class DocumentMetadata(SimpleMetadata):
    """OPTIONS answers with the endpoint's name, description and media types; documents are described by the
    JSON Schema in the OpenAPI schema, not by serializer fields."""

    def determine_actions(self, request, view):
        return {}


class DefinitionViewSet(viewsets.GenericViewSet):
    definition_model: ClassVar[type[Definition]]
    serializer_class = DocumentSerializer
    metadata_class = DocumentMetadata
    filter_backends = [StrictFilterBackend]
    lookup_field = "name"
    lookup_value_regex = NAME_REGEX
    read_only_actions: ClassVar[tuple[str, ...]] = ("validate",)
    # Lifecycle moves and updates change a version; registering (POST) adds one (RegistryAccess).
    permission_verbs: ClassVar[dict[str, str]] = {"lifecycle": "change"}

    def permission_model(self, verb: str):
        """Deleting a whole definition needs ``delete_<definition>``; everything else acts on a version."""
        return self.definition_model if self.action == "destroy" else self.version_model

    @property
    def version_model(self) -> type[DefinitionVersion]:
        return self.definition_model.versions.rel.related_model

    def get_queryset(self):
        return self.version_model.objects.of_alive().with_parent()

    def get_definition(self) -> Definition:
        return self.definition_model.get_alive(self.kwargs["name"])

    def respond(self, version: DefinitionVersion, status_code: int = 200, warnings=None) -> Response:
        body = self.get_serializer(version).data
        if warnings is not None:
            body["warnings"] = [w.as_dict() for w in warnings]
        return Response(body, status=status_code)

    def registered(self, registration: Registration) -> Response:
        response = self.respond(registration.version, status.HTTP_201_CREATED, registration.warnings)
        version = registration.version
        response["Location"] = self.reverse_action(
            "version-detail", kwargs={"name": version.definition.name, "version": version.version}
        )
        return response

    # -- collection -------------------------------------------------------------------------------------------

    def list(self, request):
        """Each definition's latest version (highest release), filtered and paginated."""
        queryset = self.filter_queryset(self.get_queryset().latest_per_definition())
        if "ordering" not in request.query_params:
            queryset = queryset.order_by(f"{self.version_model.parent_field}__name")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request):
        """Register a version; the definition is created with its first version."""
        return self.registered(self.definition_model.register(request.data, user=request.user))

    @action(detail=False, methods=["post"])
    def validate(self, request):
        """Validate a document without saving it: every error and warning, each with a JSON Pointer path."""
        return Response(self.definition_model.validator.check(request.data).as_dict())

    @extend_schema(parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
    @action(detail=False, methods=["get"], url_path=rf"id/(?P<id>{UUID_REGEX})")
    def by_id(self, request, id: str):
        """A version document by its UUID."""
        version = self.get_queryset().filter(pk=id).first()
        if version is None:
            raise DefinitionNotFound(f"No {self.definition_model.kind} version with id {id}.", path="id")
        return self.respond(version)

    # -- one definition ---------------------------------------------------------------------------------------

    @extend_schema(parameters=[VERSION_PARAM])
    def retrieve(self, request, name: str):
        """The latest version's document, or the one named by `?version=`."""
        return self.respond(self.definition_model.lookup(name, request.query_params.get("version")))

    @extend_schema(parameters=[VERSION_PARAM])
    def update(self, request, name: str):
        """Replace the mutable fields (description, tags, metadata and definition-wide fields); the spec is
        immutable and a change to it is a 409."""
        version = self.definition_model.lookup(name, request.query_params.get("version"))
        return self.respond(version.update_document(request.data, partial=False))

    @extend_schema(parameters=[VERSION_PARAM])
    def partial_update(self, request, name: str):
        """Change some mutable fields; the others stay."""
        version = self.definition_model.lookup(name, request.query_params.get("version"))
        return self.respond(version.update_document(request.data, partial=True))

    def destroy(self, request, name: str):
        """Soft delete: the rows stay; 409 while something depends on it."""
        self.get_definition().soft_delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    # -- versions ---------------------------------------------------------------------------------------------

    @action(detail=True, methods=["get", "post"])
    def versions(self, request, name: str):
        """GET: every version, newest first (paginated). POST: register a new version of this definition."""
        definition = self.get_definition()
        if request.method == "POST":
            return self.registered(definition.register_version(request.data, user=request.user))
        page = self.paginate_queryset(definition.versions.newest_first())
        for version in page:
            setattr(version, version.parent_field, definition)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(parameters=[OpenApiParameter("version", str, OpenApiParameter.PATH, description="A version number, `latest` or `current`.")])
    @action(detail=True, methods=["get"], url_path=rf"versions/(?P<version>{VERSION_REGEX})")
    def version_detail(self, request, name: str, version: str):
        """One version by number, or `latest` / `current`."""
        return self.respond(self.definition_model.lookup(name, version))

    @extend_schema(
        parameters=[
            OpenApiParameter("version", str, OpenApiParameter.PATH, description="A version number, `latest` or `current`."),
            OpenApiParameter("move", str, OpenApiParameter.PATH, enum=[*DefinitionVersion.LIFECYCLE_MOVES]),
        ],
        request=None,
    )
    @action(detail=True, methods=["post"], url_path=rf"versions/(?P<version>{VERSION_REGEX})/(?P<move>activate|deprecate|archive)")
    def lifecycle(self, request, name: str, version: str, move: str):
        """activate (make current), deprecate, or archive a version. Deprecating or archiving the current
        version clears it."""
        return self.respond(self.definition_model.lookup(name, version).move(move))

    # -- OpenAPI bodies, from the kind's JSON Schema ------------------------------------------------------------

    def document_schemas(self, schema) -> tuple[dict, dict]:
        kind = self.definition_model.kind.capitalize()
        body = inline_defs(self.definition_model.validator.schema)
        response = {**body, "properties": {**body["properties"], **READ_ONLY_PROPERTIES}}
        response.pop("required", None)
        response["required"] = ["id", "name", "version", "status", "is_current", "created_at", "updated_at"]
        registered = {**response, "properties": {**response["properties"], "warnings": {"type": "array", "items": ISSUE_SCHEMA}}}
        return (
            schema.component(f"{kind}Document", body),
            {"plain": schema.component(f"{kind}VersionDocument", response), "registered": schema.component(f"Registered{kind}", registered)},
        )

    def openapi_request(self, schema):
        request_doc, _ = self.document_schemas(schema)
        if self.action in ("create", "validate") or (self.action == "versions" and schema.method == "POST"):
            return request_doc
        if self.action in ("update", "partial_update"):
            return {"type": "object", "description": "Mutable fields: description, tags, metadata and definition-wide fields. Spec fields may be sent unchanged."}
        return None

    def openapi_responses(self, schema):
        _, docs = self.document_schemas(schema)
        if self.action == "create" or (self.action == "versions" and schema.method == "POST"):
            return {201: docs["registered"]}
        if self.action in ("retrieve", "update", "partial_update", "by_id", "version_detail", "lifecycle"):
            return {200: docs["plain"]}
        if self.action == "validate":
            return {200: schema.component("ValidationReport", VALIDATION_REPORT_SCHEMA)}
        if self.action in ("list", "versions"):
            return {200: {
                "type": "object",
                "required": ["count", "results"],
                "properties": {
                    "count": {"type": "integer"},
                    "next": {"type": ["string", "null"], "format": "uri"},
                    "previous": {"type": ["string", "null"], "format": "uri"},
                    "results": {"type": "array", "items": docs["plain"]},
                },
            }}
        if self.action == "destroy":
            return {204: None}
        return None
