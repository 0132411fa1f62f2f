"""URL maps of the admin console (``/console/``, namespace ``console``) and the workspace
(``/workspace/``, namespace ``workspace``)."""

from __future__ import annotations

from django.urls import path

from authn import views as authn_views
from blazon.audit import views as audit
from directory.views import (
    console,
    console_access,
    console_config,
    console_events,
    console_settings,
    language,
    workspace,
)

console_urlpatterns = [
    # the one login flow (authn); /login/ is LOGIN_URL, this name stays for existing links
    path("login/", authn_views.login_view, name="login"),
    path("logout/", console.ConsoleLogoutView.as_view(), name="logout"),
    path("", console.dashboard, name="dashboard"),
    # users
    path("users/", console.users_list, name="users"),
    path("users/<int:pk>/", console.user_detail, name="user_detail"),
    path("users/<int:pk>/console-role/", console_access.console_role_set, name="console_role_set"),
    path("users/<int:pk>/remove/", console.user_remove_view, name="user_remove"),
    path("events/", console_events.events_list, name="events"),
    path("events/<int:pk>/", console_events.event_detail, name="event_detail"),
    # organizations
    path("organizations/", console.organizations_list, name="organizations"),
    path("organizations/new/", console_config.organization_edit, name="organization_new"),
    path("organizations/<int:pk>/", console.organization_detail, name="organization_detail"),
    path("organizations/<int:pk>/edit/", console_config.organization_edit, name="organization_edit"),
    path("organizations/<int:pk>/delete/", console_config.organization_delete, name="organization_delete"),
    # resources
    path("resources/", console.resources_list, name="resources"),
    path("resources/new/", console_config.resource_edit, name="resource_new"),
    path("resources/<int:pk>/", console.resource_detail, name="resource_detail"),
    path("resources/<int:pk>/edit/", console_config.resource_edit, name="resource_edit"),
    # accounts
    path("accounts/", console.accounts_list, name="accounts"),
    path("accounts/<int:pk>/", console.account_detail, name="account_detail"),
    path("accounts/<int:pk>/members/", console_access.shared_member_add, name="shared_member_add"),
    path(
        "accounts/<int:pk>/members/search/", console_access.shared_member_search, name="shared_member_search"
    ),
    path(
        "accounts/<int:pk>/members/<int:member_id>/remove/",
        console_access.shared_member_remove,
        name="shared_member_remove",
    ),
    # entitlements
    path("entitlements/", console.entitlements_list, name="entitlements"),
    path("entitlements/new/", console_config.entitlement_edit, name="entitlement_new"),
    path("entitlements/<int:pk>/", console.entitlement_detail, name="entitlement_detail"),
    path("entitlements/<int:pk>/edit/", console_config.entitlement_edit, name="entitlement_edit"),
    # roles
    path("roles/", console.roles_list, name="roles"),
    path("roles/new/", console_config.role_edit, name="role_new"),
    path("roles/<int:pk>/", console.role_detail, name="role_detail"),
    path("roles/<int:pk>/edit/", console_config.role_edit, name="role_edit"),
    path("roles/<int:pk>/changes/preview/", console_config.role_change_preview, name="role_change_preview"),
    path("roles/<int:pk>/changes/", console_config.role_change_submit, name="role_change_submit"),
    path(
        "roles/<int:pk>/changes/<int:change_id>/",
        console_config.role_change_detail,
        name="role_change_detail",
    ),
    path(
        "roles/<int:pk>/changes/<int:change_id>/progress/",
        console_config.role_change_progress,
        name="role_change_progress",
    ),
    # settings
    path("settings/attributes/", console_settings.attributes_list, name="attributes"),
    path("settings/attributes/new/", console_settings.attribute_edit, name="attribute_new"),
    path("settings/attributes/<int:pk>/edit/", console_settings.attribute_edit, name="attribute_edit"),
    path("settings/attributes/<int:pk>/delete/", console_settings.attribute_delete, name="attribute_delete"),
    path("settings/username-policy/", console_settings.username_policy_edit, name="username_policy"),
    path(
        "settings/username-policy/preview/",
        console_settings.username_policy_preview,
        name="username_policy_preview",
    ),
    # audit log
    path("audit/", audit.audit_log, name="audit"),
    path("audit/export.csv", audit.audit_export, name="audit_export"),
]

workspace_urlpatterns = [
    path("", workspace.home, name="home"),
    path("accesses/", workspace.accesses, name="accesses"),
    path("language/", language.language, name="language"),
]
