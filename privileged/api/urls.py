"""Routes of privileged access under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from privileged.api import views

router = SimpleRouter()
router.register("access-groups", views.AccessGroupViewSet, basename="access-group")
router.register("access-requests", views.AccessRequestViewSet, basename="access-request")
router.register("itsm-instances", views.ItsmInstanceViewSet, basename="itsm-instance")
router.register("rotation-policies", views.RotationPolicyViewSet, basename="rotation-policy")

urlpatterns = router.urls
