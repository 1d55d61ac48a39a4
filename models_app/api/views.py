from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from kernel.api.views import VERSION_REGEX, DefinitionViewSet
from kernel.reads.lookups import lookup
from models_app.api.lineage_views import ATTESTATION_RESPONSE, LINEAGE_RESPONSE, attestation_of, lineage_direction
from models_app.filtersets import ModelVersionFilterSet
from models_app.lineage import walk
from models_app.models import Model

VERSION_PATH = OpenApiParameter(
    "version", str, OpenApiParameter.PATH, description="A version number, `latest` or `current`."
)


class ModelViewSet(DefinitionViewSet):
    """Register, version and look up AI models."""

    definition_model = Model
    filterset_class = ModelVersionFilterSet
    query_parameters = {**DefinitionViewSet.query_parameters, "lineage": ("direction",)}

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
        return super().openapi_responses(schema)
