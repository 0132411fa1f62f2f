"""Routes of SoD under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from sod.api import views

router = SimpleRouter()
router.register("sod-rules", views.SoDRuleViewSet, basename="sod-rule")
router.register("sod-exceptions", views.SoDExceptionViewSet, basename="sod-exception")
router.register("assignment-policies", views.AssignmentPolicyViewSet, basename="assignment-policy")
router.register("sod-violations", views.SoDViolationViewSet, basename="sod-violation")

urlpatterns = router.urls
