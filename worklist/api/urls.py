"""Routes of tasks under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from worklist.api import views

router = SimpleRouter()
router.register("tasks", views.TaskViewSet, basename="task")

urlpatterns = router.urls
