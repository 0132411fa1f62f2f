"""``/sso/saml/`` (namespace ``sso``): the IdP endpoints SPs and browsers reach."""

from __future__ import annotations

from django.urls import path

from sso import views

app_name = "sso"

urlpatterns = [
    path("saml/metadata/", views.metadata, name="metadata"),
    path("saml/sso/redirect/", views.sso_redirect, name="sso_redirect"),
    path("saml/sso/post/", views.sso_post, name="sso_post"),
    path("saml/resume/<str:pending_id>/", views.resume, name="resume"),
    path("saml/slo/redirect/", views.slo_redirect, name="slo_redirect"),
    path("saml/slo/post/", views.slo_post, name="slo_post"),
    path("saml/slo/continue/", views.slo_chain_continue, name="slo_continue"),
    path("saml/launch/<int:pk>/", views.launch, name="launch"),
]
