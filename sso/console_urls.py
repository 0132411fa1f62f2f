"""``/console/sso/`` (namespace ``console_sso``): SAML service providers and the IdP's metadata."""

from __future__ import annotations

from django.urls import path

from sso import console_views as views

urlpatterns = [
    path("saml/", views.sp_list, name="sp_list"),
    path("saml/new/", views.sp_edit, name="sp_new"),
    path("saml/import/", views.sp_import, name="sp_import"),
    path("saml/idp/", views.idp_info, name="idp"),
    path("saml/idp/metadata.xml", views.idp_metadata_download, name="idp_metadata"),
    path("saml/<int:pk>/", views.sp_detail, name="sp_detail"),
    path("saml/<int:pk>/edit/", views.sp_edit, name="sp_edit"),
    path("saml/<int:pk>/delete/", views.sp_delete, name="sp_delete"),
]
