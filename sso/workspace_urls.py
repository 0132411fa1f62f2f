"""``/workspace/applications/`` (namespace ``workspace_sso``): "My applications"."""

from __future__ import annotations

from django.urls import path

from sso import views

urlpatterns = [path("", views.my_applications, name="applications")]
