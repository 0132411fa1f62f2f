"""OIDC URLs. ``protocol_urlpatterns`` join DOT's ``oauth2_provider`` namespace under ``/o/``;
``console_urlpatterns`` are ``/console/sso/oidc/`` (namespace ``console_oidc``)."""

from __future__ import annotations

from django.urls import path, re_path
from oauth2_provider import views as dot_views

from oidc import console_views, views

protocol_urlpatterns = [
    path("authorize/", views.AuthorizationView.as_view(), name="authorize"),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        views.ConnectDiscoveryInfoView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(
        ".well-known/oauth-authorization-server",
        views.OAuthServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    path(".well-known/jwks.json", views.JwksInfoView.as_view(), name="jwks-info"),
    path("userinfo/", dot_views.UserInfoView.as_view(), name="user-info"),
    path("logout/", views.RPInitiatedLogoutView.as_view(), name="rp-initiated-logout"),
]

console_urlpatterns = [
    path("", console_views.client_list, name="list"),
    path("new/", console_views.client_create, name="create"),
    path("keys/rotate/", console_views.key_rotate, name="key_rotate"),
    path("<int:pk>/", console_views.client_detail, name="detail"),
    path("<int:pk>/edit/", console_views.client_edit, name="edit"),
    path("<int:pk>/secret/", console_views.client_rotate_secret, name="rotate_secret"),
    path("<int:pk>/delete/", console_views.client_delete, name="delete"),
]
