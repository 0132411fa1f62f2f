"""Routes of requests and delegations under ``/api/v1/`` (tasks: ``worklist.api.urls``)."""

from rest_framework.routers import SimpleRouter

from requests_workflow.api import delegations, views

router = SimpleRouter()
router.register("requests", views.RequestViewSet, basename="request")
router.register("delegations", delegations.DelegationViewSet, basename="delegation")

urlpatterns = router.urls
