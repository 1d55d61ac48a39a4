from models_app.api.artifacts import ModelDocumentSerializer
from models_app.filtersets import ModelVersionFilterSet
from models_app.models import Model
from registry_project.api.views import DefinitionViewSet


class ModelViewSet(DefinitionViewSet):
    """Register, version and look up AI models."""

    definition_model = Model
    filterset_class = ModelVersionFilterSet
    serializer_class = ModelDocumentSerializer

    def get_queryset(self):
        return super().get_queryset().prefetch_related("artifact_files")

    def paginate_queryset(self, queryset):
        # The versions list pages a definition's own queryset: fetch every page's stored files in one query.
        return super().paginate_queryset(queryset.prefetch_related("artifact_files"))
