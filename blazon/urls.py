from django.contrib import admin
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import include, path
from oauth2_provider import views as oauth2_views

from authn import views as authn_views
from directory.views.urls import console_urlpatterns, workspace_urlpatterns
from requests_workflow.views import urls as request_urls


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


# OAuth2 token endpoints only (client credentials for resource adapters; docs/adapters.md).
oauth2_urlpatterns = [
    path("token/", oauth2_views.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
]

urlpatterns = [
    path("", lambda request: redirect("/console/")),
    path("healthz", healthz),
    path("", include(("authn.urls", "authn"))),
    # Django admin logs in through the one login flow (policies, factors, lock), not its own form
    path("django-admin/login/", authn_views.admin_login_redirect),
    path("django-admin/", admin.site.urls),
    path("api/", include("blazon.api.urls")),
    path("o/", include((oauth2_urlpatterns, "oauth2_provider"))),
    path("console/requests/", include((request_urls.console_urlpatterns, "console_requests"))),
    path("workspace/requests/", include((request_urls.workspace_urlpatterns, "workspace_requests"))),
    path("approvals/", include("requests_workflow.email_urls")),
    path("console/imports/", include("requests_workflow.import_urls")),
    path("console/provisioning/", include(("provisioning.urls", "console_provisioning"))),
    path("console/", include((console_urlpatterns, "console"))),
    path("workspace/", include((workspace_urlpatterns, "workspace"))),
]
