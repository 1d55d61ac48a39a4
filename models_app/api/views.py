import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from kernel.api.idempotency import idempotent
from kernel.api.schema import inline_defs
from kernel.api.views import VERSION_REGEX, DefinitionViewSet
from kernel.exceptions import DefinitionNotFound
from kernel.reads.lookups import lookup, version_by_id
from kernel.writes import lifecycle
from kernel.writes.delete import soft_delete
from kernel.writes.update import update_document
from models_app.api.lineage_views import ATTESTATION_RESPONSE, LINEAGE_RESPONSE, attestation_of, lineage_direction
from models_app.evaluations import as_record, evaluate, evaluation_validator, records
from models_app.filtersets import ModelVersionFilterSet
from models_app.lineage import walk
from models_app.models import Model, ModelVersion

ID_PATH = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The version's id.")
MODEL_LINEAGE_RESPONSE = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="`{model, count, truncated, versions: [{id, version, status, is_current, depth, relation, derived_from, metrics, attested}], edges: [{from, to, relation, deltas, improved}]}`",
)
VERSION_PATH = OpenApiParameter(
    "version", str, OpenApiParameter.PATH, description="A version number, `latest` or `current`."
)

EVALUATION_RECORD_SCHEMA = {
    "type": "object",
    "required": ["id", "at", "actor", "metrics"],
    "properties": {
        "id": {"type": "integer", "description": "The change-log entry that holds the record."},
        "at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string"},
        "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
        "dataset": {"type": "string"},
        "notes": {"type": "string"},
    },
}


class ModelViewSet(DefinitionViewSet):
    """Register, version and look up AI models."""

    definition_model = Model
    filterset_class = ModelVersionFilterSet
    query_parameters = {
        **DefinitionViewSet.query_parameters,
        "lineage": ("direction",),
        "evaluations": ("limit", "offset"),
    }
    paginated_actions = (*DefinitionViewSet.paginated_actions, "evaluations")
    unfiltered_actions = ("evaluations",)  # a page of records: the document filters do not apply
    body_required_actions = (*DefinitionViewSet.body_required_actions, "evaluations", "update_by_id")
    late_confirmed_actions = (*DefinitionViewSet.late_confirmed_actions, "retrieve_by_id")
    # Recording an evaluation changes a version, and so does deactivating one (RegistryAccess: change_modelversion).
    permission_verbs = {
        **DefinitionViewSet.permission_verbs,
        "evaluations": "change",
        "deactivate": "change",
        "update_by_id": "change",
        "delete_by_id": "delete",
    }

    # -- /api/v1/versions/{id}: the model registry's paths by id (models_app/api/urls.py maps them here) ---------

    def _by_id(self, id: str) -> ModelVersion:
        version = version_by_id(Model, uuid.UUID(id))
        if version is None:
            raise DefinitionNotFound(f"No model version with id {id}.", path="id")
        return version

    @extend_schema(parameters=[ID_PATH])
    def retrieve_by_id(self, request, id: str):
        """A model version's document by its id (as `GET /api/v1/models/id/{id}`)."""
        return self.respond(self._by_id(id))

    @extend_schema(parameters=[ID_PATH])
    def update_by_id(self, request, id: str):
        """Change the mutable fields of the model version with this id: the update `PATCH /api/v1/models/{name}`
        makes (the spec stays; a change to it is a 409)."""
        updated = update_document(self._by_id(id), request.data)
        return self.respond(updated.version, warnings=updated.warnings)

    @extend_schema(parameters=[ID_PATH], request=None)
    def delete_by_id(self, request, id: str):
        """Soft-delete the model version with this id, with the guards of `DELETE .../versions/{version}` (409
        while it is current, pinned by a pipeline, served by a binding or aliased)."""
        soft_delete(self._by_id(id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[VERSION_PATH], request=None)
    @action(detail=True, methods=["post"], url_path=rf"versions/(?P<version>{VERSION_REGEX})/deactivate")
    @idempotent
    def deactivate(self, request, name: str, version: str):
        """The lifecycle service's deactivate: the version is no longer current and not routable (`/api/v1/route`
        excludes its bindings, even when asked for it by `version=`). It is `deprecate` by another name, so
        `activate` undoes it."""
        return self.respond(lifecycle.deprecate(lookup(self.definition_model, name, version)))

    @extend_schema(responses={200: MODEL_LINEAGE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="lineage")
    def model_lineage(self, request, name: str):
        """Every version of the model (newest first) and the edges between them and to other models' versions,
        each with the child's metric deltas against its parent."""
        return Response(walk.model_lineage(self.get_definition()))

    @extend_schema(parameters=[VERSION_PATH])
    @action(detail=True, methods=["get", "post"], url_path=rf"versions/(?P<version>{VERSION_REGEX})/evaluations")
    @idempotent
    def evaluations(self, request, name: str, version: str):
        """GET: the version's evaluation records, newest first (paginated). POST: record an evaluation (`metrics`,
        optional `dataset` and `notes`): the document then shows each metric's latest value, `eval_score` too; the
        record is in the change log and is the webhook event `model.evaluated`."""
        found = lookup(self.definition_model, name, version)
        if request.method == "POST":
            _, record = evaluate(found, request.data)
            return Response(record, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(records(found))
        return self.get_paginated_response([as_record(entry) for entry in page])

    @extend_schema(
        parameters=[
            VERSION_PATH,
            OpenApiParameter(
                "direction",
                str,
                enum=["ancestors", "descendants"],
                description="`ancestors` (default): the chain from the baseline to this version; `descendants`: the tree below it.",
            ),
        ],
        responses={200: LINEAGE_RESPONSE},
    )
    @action(detail=True, methods=["get"], url_path=rf"versions/(?P<version>{VERSION_REGEX})/lineage")
    def lineage(self, request, name: str, version: str):
        """The lineage of a version, each step with its metric deltas against its parent and its contributors."""
        direction = lineage_direction(request)
        return Response(walk.lineage(lookup(self.definition_model, name, version), direction))

    @extend_schema(parameters=[VERSION_PATH], responses={200: ATTESTATION_RESPONSE})
    @action(detail=True, methods=["get"], url_path=rf"versions/(?P<version>{VERSION_REGEX})/attestation")
    def attestation(self, request, name: str, version: str):
        """The signed attestation (DSSE envelope of an in-toto Statement v1) of an improving version."""
        return Response(attestation_of(lookup(self.definition_model, name, version)))

    def openapi_responses(self, schema):
        if self.action in ("lineage", "attestation", "model_lineage"):
            return None  # described by @extend_schema
        if self.action == "deactivate":
            return self._responses_as("lifecycle", schema)
        if self.action == "retrieve_by_id":
            return self._responses_as("by_id", schema)
        if self.action == "update_by_id":
            return self._responses_as("partial_update", schema)
        if self.action == "delete_by_id":
            return {204: None}
        if self.action == "evaluations":
            record = schema.component("EvaluationRecord", EVALUATION_RECORD_SCHEMA)
            return {201: record} if schema.method == "POST" else {200: record}  # GET: paginated
        return super().openapi_responses(schema)

    def _responses_as(self, action: str, schema):
        """The responses DefinitionViewSet describes for ``action`` (an operation by another path)."""
        mine, self.action = self.action, action
        try:
            return super().openapi_responses(schema)
        finally:
            self.action = mine

    def openapi_request(self, schema):
        if self.action == "evaluations":
            return (
                schema.component("Evaluation", inline_defs(evaluation_validator.schema))
                if schema.method == "POST"
                else None
            )
        if self.action == "update_by_id":
            return self.document_schemas(schema)[1]["changes"]
        return super().openapi_request(schema)
