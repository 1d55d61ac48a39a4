from rest_framework.routers import SimpleRouter

from models_app.api.lineage_views import AttestationViewSet, ContributorViewSet
from models_app.api.retention import RetentionViewSet
from models_app.api.views import ModelViewSet

app_name = "models-api"

router = SimpleRouter(trailing_slash=False)
router.register("models", ModelViewSet, basename="model")
router.register("contributors", ContributorViewSet, basename="contributor")
router.register("attestations", AttestationViewSet, basename="attestation")
router.register("retention", RetentionViewSet, basename="retention")
urlpatterns = router.urls
