from models_app.api.artifacts import ModelDocumentSerializer
from models_app.filtersets import ModelVersionFilterSet
from models_app.models import Model
from registry_project.api.views import DefinitionViewSet


class ModelViewSet(DefinitionViewSet):
    """Register, version and look up AI models."""

    definition_model = Model
    filterset_class = ModelVersionFilterSet
    serializer_class = ModelDocumentSerializer
