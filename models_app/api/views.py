from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from kernel.api.idempotency import idempotent
from kernel.api.schema import inline_defs
from kernel.api.views import VERSION_REGEX, DefinitionViewSet
from kernel.reads.lookups import lookup
from models_app.api.lineage_views import ATTESTATION_RESPONSE, LINEAGE_RESPONSE, attestation_of, lineage_direction
from models_app.evaluations import as_record, evaluate, evaluation_validator, records
from models_app.filtersets import ModelVersionFilterSet
from models_app.lineage import walk
from models_app.models import Model

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
    body_required_actions = (*DefinitionViewSet.body_required_actions, "evaluations")
    # Recording an evaluation changes a version (RegistryAccess: change_modelversion).
    permission_verbs = {**DefinitionViewSet.permission_verbs, "evaluations": "change"}

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
        if self.action in ("lineage", "attestation"):
            return None  # described by @extend_schema
        if self.action == "evaluations":
            record = schema.component("EvaluationRecord", EVALUATION_RECORD_SCHEMA)
            return {201: record} if schema.method == "POST" else {200: record}  # GET: paginated
        return super().openapi_responses(schema)

    def openapi_request(self, schema):
        if self.action == "evaluations":
            return (
                schema.component("Evaluation", inline_defs(evaluation_validator.schema))
                if schema.method == "POST"
                else None
            )
        return super().openapi_request(schema)
