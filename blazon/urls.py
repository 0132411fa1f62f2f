from django.contrib import admin
from django.shortcuts import redirect
from django.urls import include, path
from oauth2_provider import views as oauth2_views

from authn import views as authn_views
from blazon.health import healthz, readyz
from certification import urls as certification_urls
from directory.views.urls import console_urlpatterns, workspace_urlpatterns
from oidc import urls as oidc_urls
from oidc.views import ConnectDiscoveryInfoView, OAuthServerMetadataView, TokenView
from privileged import urls as privileged_urls
from reconciliation import urls as reconciliation_urls
from requests_workflow.views import urls as request_urls
from security import urls as security_urls
from siem import urls as siem_urls
from sod import urls as sod_urls
from worklist.views import urls as task_urls

# OAuth2 token endpoints (client credentials for resource adapters, docs/adapters.md) and the
# OpenID Connect provider (issuer <origin>/o, docs/sso-oidc.md).
oauth2_urlpatterns = [
    path("token/", TokenView.as_view(), name="token"),
    path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
    *oidc_urls.protocol_urlpatterns,
]

urlpatterns = [
    path("", lambda request: redirect("/console/")),
    path("healthz", healthz),
    path("readyz", readyz),
    # the issuer's document, also at the origin for clients configured with the bare host
    path(".well-known/openid-configuration", ConnectDiscoveryInfoView.as_view()),
    # RFC 8414 §3.1: the metadata of issuer <origin>/o, with the well-known part before the path
    path(".well-known/oauth-authorization-server/o", OAuthServerMetadataView.as_view()),
    path("", include(("authn.urls", "authn"))),
    # Django admin logs in through the one login flow (policies, factors, lock), not its own form
    path("django-admin/login/", authn_views.admin_login_redirect),
    path("django-admin/", admin.site.urls),
    path("api/", include("blazon.api.urls")),
    path("scim/v2/", include("scim.urls")),
    path("o/", include((oauth2_urlpatterns, "oauth2_provider"))),
    # the task pages (worklist) keep the addresses and names they had among the request pages
    path(
        "console/requests/",
        include((request_urls.console_urlpatterns + task_urls.console_urlpatterns, "console_requests")),
    ),
    path(
        "workspace/requests/",
        include((request_urls.workspace_urlpatterns + task_urls.workspace_urlpatterns, "workspace_requests")),
    ),
    path("approvals/", include("requests_workflow.email_urls")),
    path("privileged/links/", include("privileged.linkviews")),
    path("console/imports/", include("requests_workflow.import_urls")),
    # password management: /password/…, /workspace/password/…, /console/passwords/… (docs/passwords.md)
    path("", include(("passwords.urls", "passwords"))),
    path("console/provisioning/", include(("provisioning.urls", "console_provisioning"))),
    path("console/security/", include((security_urls.console_urlpatterns, "console_security"))),
    path("workspace/sessions/", include((security_urls.workspace_urlpatterns, "workspace_security"))),
    path("console/sso/oidc/", include((oidc_urls.console_urlpatterns, "console_oidc"))),
    path("console/sso/", include(("sso.console_urls", "console_sso"))),
    path("console/operations/", include(("blazon.outbox.urls", "console_operations"))),
    path("console/sod/", include((sod_urls.console_urlpatterns, "console_sod"))),
    path("console/siem/", include((siem_urls.console_urlpatterns, "console_siem"))),
    path("workspace/sod/", include((sod_urls.workspace_urlpatterns, "workspace_sod"))),
    path("console/privileged/", include((privileged_urls.console_urlpatterns, "console_privileged"))),
    path("workspace/privileged/", include((privileged_urls.workspace_urlpatterns, "workspace_privileged"))),
    path(
        "console/certification/", include((certification_urls.console_urlpatterns, "console_certification"))
    ),
    path(
        "workspace/certification/",
        include((certification_urls.workspace_urlpatterns, "workspace_certification")),
    ),
    path(
        "console/reconciliation/",
        include((reconciliation_urls.console_urlpatterns, "console_reconciliation")),
    ),
    path("console/", include((console_urlpatterns, "console"))),
    path("sso/", include("sso.urls")),
    path("workspace/applications/", include(("sso.workspace_urls", "workspace_sso"))),
    path("workspace/", include((workspace_urlpatterns, "workspace"))),
]

# Console-style error pages; with DEBUG off (the default, embedded mode included) nobody sees a
# traceback or the URL list.
handler500 = "blazon.error_pages.server_error"
