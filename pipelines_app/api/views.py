from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from kernel.api.views import VERSION_PARAM, DefinitionViewSet
from kernel.reads.lookups import lookup
from pipelines_app.filtersets import PipelineVersionFilterSet
from pipelines_app.models import Pipeline

_STEP_IDS = {"type": "array", "items": {"type": "string"}}

EXECUTION_ORDER_SCHEMA = {
    "type": "object",
    "required": ["name", "version", "stages", "levels", "order", "max_parallel", "critical_path"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "stages": {
            "type": "array",
            "items": _STEP_IDS,
            "description": "Run order: the steps of each inner list run together. Each is a DAG level, or a slice "
            "of one no wider than max_parallel; with no level wider than that, stages equal levels.",
        },
        "levels": {
            "type": "array",
            "items": _STEP_IDS,
            "description": "The DAG's levels: steps whose dependencies are all in earlier levels, ids sorted.",
        },
        "order": {"allOf": [_STEP_IDS], "description": "One topological order: the levels in turn, ties by step id."},
        "max_parallel": {"type": ["integer", "null"], "description": "The batch width used; null when unlimited."},
        "critical_path": {
            "type": "object",
            "required": ["steps", "duration_seconds"],
            "properties": {
                "steps": _STEP_IDS,
                "duration_seconds": {
                    "type": "integer",
                    "description": "Worst case: each step's timeout_seconds x (1 + retry_count), summed; a step "
                    "without a timeout counts as 0.",
                },
            },
        },
    },
}


class PipelineViewSet(DefinitionViewSet):
    """Register, version and look up pipelines (DAGs of steps) and how they run."""

    definition_model = Pipeline
    filterset_class = PipelineVersionFilterSet
    query_parameters = {**DefinitionViewSet.query_parameters, "execution_order": ("version",)}

    @extend_schema(parameters=[VERSION_PARAM])
    @action(detail=True, methods=["get"], url_path="execution-order")
    def execution_order(self, request, name: str):
        """Stages (DAG levels cut into batches no wider than max_parallel), one topological order and the
        critical path with its worst-case duration, for the latest version or `?version=`."""
        return Response(lookup(self.definition_model, name, request.query_params.get("version")).execution_order())

    def openapi_responses(self, schema):
        if self.action == "execution_order":
            return {200: schema.component("ExecutionOrder", EXECUTION_ORDER_SCHEMA)}
        return super().openapi_responses(schema)
