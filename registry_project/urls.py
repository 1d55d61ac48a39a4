from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from kernel import metrics
from kernel.api import health
from kernel.api.changes import ChangeLogView
from kernel.api.stats import StatsView
from kernel.api.webhooks import WebhookViewSet
from models_app.mlflow_api import urls as mlflow_urls

webhooks_router = SimpleRouter(trailing_slash=False)
webhooks_router.register("webhooks", WebhookViewSet, basename="webhook")
api_v1 = [
    path("", include("models_app.api.urls")),
    path("", include("pipelines_app.api.urls")),
    path("", include("policies_app.api.urls")),
    path("stats", StatsView.as_view(), name="stats"),
    path("changes", ChangeLogView.as_view(), name="changes"),
    path("", include(webhooks_router.urls)),
    path("", include("bindings_app.api.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    # MLflow's Model Registry REST API over the same registry (models_app/mlflow_api/): its client's paths and the
    # web UI's.
    path("api/2.0/mlflow/", include((mlflow_urls.urlpatterns, "mlflow"), namespace="mlflow")),
    path("ajax-api/2.0/mlflow/", include((mlflow_urls.ui_urlpatterns, "mlflow"), namespace="mlflow-ajax")),
    path(
        "api/2.0/mlflow-artifacts/", include((mlflow_urls.artifact_urlpatterns, "mlflow"), namespace="mlflow-artifacts")
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Where the earlier services kept their API documentation.
    path("docs", RedirectView.as_view(pattern_name="swagger-ui"), name="docs"),
    path("docs/", RedirectView.as_view(pattern_name="swagger-ui")),
    path("health", health.ready, name="health"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/live", health.live, name="health-live"),
    path("metrics", metrics.metrics_view, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
]

handler400 = "kernel.api.errors.handler400"
handler403 = "kernel.api.errors.handler403"
handler404 = "kernel.api.errors.handler404"
handler500 = "kernel.api.errors.handler500"
