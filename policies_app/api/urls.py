from rest_framework.routers import SimpleRouter

from policies_app.api.views import PolicyViewSet

app_name = "policies-api"

router = SimpleRouter(trailing_slash=False)
router.register("policies", PolicyViewSet, basename="policy")
urlpatterns = router.urls
