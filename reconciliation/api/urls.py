"""Routes of reconciliation under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from reconciliation.api import views

router = SimpleRouter()
router.register(
    "reconciliation-profiles", views.ReconciliationProfileViewSet, basename="reconciliation-profile"
)
router.register("reconciliation-runs", views.ReconciliationRunViewSet, basename="reconciliation-run")

urlpatterns = router.urls
