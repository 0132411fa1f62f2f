"""Routes of certification under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from certification.api import views

router = SimpleRouter()
router.register("certification-policies", views.CertificationPolicyViewSet, basename="certification-policy")
router.register(
    "certification-campaigns", views.CertificationCampaignViewSet, basename="certification-campaign"
)
router.register("certification-items", views.CertificationItemViewSet, basename="certification-item")

urlpatterns = router.urls
