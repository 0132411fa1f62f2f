"""Routes of provisioning entries for people under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from provisioning.api import admin_views

router = SimpleRouter()
router.register("provisioning-entries", admin_views.ProvisioningEntryViewSet, basename="provisioning-entry")

urlpatterns = router.urls
