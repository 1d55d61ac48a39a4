from django.urls import re_path
from rest_framework.routers import SimpleRouter

from kernel.api.views import UUID_REGEX, VERSION_REGEX
from kernel.rules.names import NAME
from models_app.api.artifacts import ArtifactFileView, ArtifactListView, SealView
from models_app.api.lineage_views import AttestationViewSet, ContributorViewSet
from models_app.api.retention import RetentionViewSet
from models_app.api.views import ModelViewSet

app_name = "models-api"

router = SimpleRouter(trailing_slash=False)
router.register("models", ModelViewSet, basename="model")
router.register("contributors", ContributorViewSet, basename="contributor")
router.register("attestations", AttestationViewSet, basename="attestation")
router.register("retention", RetentionViewSet, basename="retention")
_version = rf"^models/(?P<name>{NAME})/versions/(?P<version>{VERSION_REGEX})"
urlpatterns = [
    *router.urls,
    re_path(rf"{_version}/artifacts\Z", ArtifactListView.as_view(), name="model-artifacts"),
    re_path(rf"{_version}/artifacts/(?P<filename>[^/]+)\Z", ArtifactFileView.as_view(), name="model-artifact"),
    re_path(rf"{_version}/seal\Z", SealView.as_view(), name="model-seal"),
    # The model registry's paths by id (GET /api/v1/versions lists model versions across models: bindings_app).
    re_path(
        rf"^versions/(?P<id>{UUID_REGEX})\Z",
        ModelViewSet.as_view({"get": "retrieve_by_id", "patch": "update_by_id", "delete": "delete_by_id"}),
        name="model-version-by-id",
    ),
]
