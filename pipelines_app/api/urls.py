from rest_framework.routers import SimpleRouter

from pipelines_app.api.views import PipelineViewSet

app_name = "pipelines-api"

router = SimpleRouter(trailing_slash=False)
router.register("pipelines", PipelineViewSet, basename="pipeline")
urlpatterns = router.urls
