"""``/api/``: version 1 of the REST API, its OpenAPI schema and the interactive docs.

The docs' assets (Swagger UI, ReDoc) come from drf-spectacular-sidecar and are served locally.
Any other path under ``/api/`` answers with the API's JSON error format, not an HTML page.
"""

from django.urls import Resolver404, include, path, re_path, resolve
from django.utils.translation import gettext as _
from drf_spectacular.views import SpectacularAPIView
from rest_framework import status
from rest_framework.decorators import api_view, authentication_classes, permission_classes, renderer_classes
from rest_framework.renderers import JSONRenderer

from blazon.api.docs import LocalRedocView, LocalSwaggerView
from blazon.api.errors import error_response


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([])
@renderer_classes([JSONRenderer])
def not_found(request, rest=""):
    message = _("No API endpoint at %(path)s.") % {"path": request.path}
    if not request.path.endswith("/"):
        try:
            resolve(request.path + "/")
            message += " " + _("Did you mean %(path)s/ (with a trailing slash)?") % {"path": request.path}
        except Resolver404:
            pass
    return error_response("not_found", message, status.HTTP_404_NOT_FOUND)


not_found.cls.schema = None  # not part of the documented API

urlpatterns = [
    path("v1/", include("directory.api.urls")),
    path("v1/", include("requests_workflow.api.urls")),
    path("v1/", include("worklist.api.urls")),
    path("v1/", include("sod.api.urls")),
    path("v1/", include("privileged.api.urls")),
    path("v1/", include("certification.api.urls")),
    path("v1/", include("reconciliation.api.urls")),
    path("v1/", include("siem.api.urls")),
    path("v1/adapter/", include("provisioning.api.urls")),
    path("v1/", include("provisioning.api.admin_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", LocalSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", LocalRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    re_path(r"^(?P<rest>.*)$", not_found),
]
