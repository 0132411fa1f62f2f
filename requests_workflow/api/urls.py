"""Routes of requests and tasks under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from requests_workflow.api import delegations, views

router = SimpleRouter()
router.register("requests", views.RequestViewSet, basename="request")
router.register("tasks", views.TaskViewSet, basename="task")
router.register("delegations", delegations.DelegationViewSet, basename="delegation")

urlpatterns = router.urls
