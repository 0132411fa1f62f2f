"""URLs: the console's security pages (``/console/security/``, namespace ``console_security``)
and the workspace's sessions (``/workspace/sessions/``, namespace ``workspace_security``)."""

from __future__ import annotations

from django.urls import path

from security import views

console_urlpatterns = [
    path("lockouts/", views.lockouts, name="lockouts"),
    path("lockouts/<int:pk>/release/", views.lockout_release, name="lockout_release"),
    path("settings/", views.settings_edit, name="settings"),
    path("users/<int:pk>/sessions/", views.user_sessions, name="user_sessions"),
    path("users/<int:pk>/sessions/end/", views.user_sessions_end, name="user_sessions_end"),
]

workspace_urlpatterns = [
    path("", views.my_sessions, name="sessions"),
    path("end/", views.my_sessions_end, name="sessions_end"),
]
