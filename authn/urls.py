"""Login flow (``/login/``), workspace security pages and console policy pages (namespace ``authn``)."""

from __future__ import annotations

from django.urls import path

from authn import views

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/step/", views.step_view, name="step"),
    path("login/step/resend/", views.resend_view, name="resend"),
    path("login/forgot/", views.forgot_view, name="forgot"),
    path("workspace/security/", views.security_view, name="security"),
    path("workspace/security/totp/", views.totp_enrol_view, name="totp_enrol"),
    path("workspace/security/totp/remove/", views.totp_remove_view, name="totp_remove"),
    path("workspace/security/recovery-codes/", views.recovery_regenerate_view, name="recovery_regenerate"),
    path("workspace/security/questions/", views.questions_view, name="questions"),
    path(
        "console/authentication/users/<int:pk>/reset-factors/",
        views.user_factors_reset,
        name="user_factors_reset",
    ),
    path("console/authentication/policies/", views.policies_list, name="policies"),
    path("console/authentication/policies/new/", views.policy_edit, name="policy_new"),
    path("console/authentication/policies/preview/", views.policy_preview, name="policy_preview"),
    path("console/authentication/policies/<int:pk>/", views.policy_edit, name="policy_edit"),
    path("console/authentication/policies/<int:pk>/delete/", views.policy_delete_view, name="policy_delete"),
]
