"""``/console/provisioning/`` (namespace ``console_provisioning``), included from ``blazon/urls.py``."""

from __future__ import annotations

from django.urls import path

from provisioning import views

urlpatterns = [
    path("", views.queue, name="queue"),
    path("entries/<int:pk>/", views.entry_detail, name="entry"),
    path("entries/<int:pk>/resolve/<slug:outcome>/", views.entry_resolve, name="entry_resolve"),
    path("entries/<int:pk>/<slug:action>/", views.entry_action, name="entry_action"),
    path("adapters/", views.health, name="health"),
    path("resources/<int:pk>/retry-policy/", views.retry_policy_edit, name="retry_policy"),
    path("resources/<int:pk>/adapter/", views.inprocess_adapter_edit, name="inprocess_adapter"),
    path("resources/<int:pk>/test-connection/", views.test_connection, name="test_connection"),
]
