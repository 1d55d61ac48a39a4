from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from bindings_app.api.views import GatewayVersionViewSet, ProviderBindingViewSet, RouteView
from kernel.api.views import VERSION_REGEX
from kernel.rules.names import NAME

app_name = "bindings-api"

router = SimpleRouter(trailing_slash=False)
router.register("bindings", ProviderBindingViewSet, basename="binding")
router.register("versions", GatewayVersionViewSet, basename="version")
urlpatterns = [
    *router.urls,
    path("route", RouteView.as_view(), name="route"),
    re_path(
        rf"^models/(?P<name>{NAME})/versions/(?P<version>{VERSION_REGEX})/bindings\Z",
        ProviderBindingViewSet.as_view({"get": "of_version"}),
        name="version-bindings",
    ),
]
