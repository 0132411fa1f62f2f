"""Routes of SIEM forwarding under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from siem.api import views

router = SimpleRouter()
router.register("siem-destinations", views.SiemDestinationViewSet, basename="siem-destination")

urlpatterns = router.urls
