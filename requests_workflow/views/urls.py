"""URL maps of the request pages: ``/workspace/requests/`` (namespace ``workspace_requests``) and
``/console/requests/`` (namespace ``console_requests``), included from ``blazon/urls.py`` with the
task pages of ``worklist.views.urls`` in the same namespaces."""

from __future__ import annotations

from django.urls import path

from requests_workflow.views import (
    console,
    console_actions,
    console_grants,
    console_policies,
    delegations,
    team,
    workspace,
)
from worklist.views import console as console_sla

workspace_urlpatterns = [
    path("", workspace.my_requests, name="mine"),
    path("catalog/", workspace.catalog, name="catalog"),
    path("cart/", workspace.cart, name="cart"),
    path("cart/add/", workspace.cart_add, name="cart_add"),
    path("cart/remove/", workspace.cart_remove, name="cart_remove"),
    path("<int:pk>/", workspace.my_request_detail, name="detail"),
    path("<int:pk>/cancel/", workspace.my_request_cancel, name="cancel"),
    path("out-of-office/", delegations.out_of_office, name="out_of_office"),
    path("out-of-office/<int:pk>/revoke/", delegations.out_of_office_revoke, name="out_of_office_revoke"),
    # My team: a manager's reports and the requests the manager makes for them (team.py)
    path("team/", team.team, name="team"),
    path("team/<int:pk>/", team.team_member, name="team_member"),
    path(
        "team/<int:pk>/revoke-access/<slug:kind>/<int:obj_pk>/", team.team_revoke_access, name="team_revoke"
    ),
    path("team/<int:pk>/<slug:action>/", team.team_action, name="team_action"),
]

console_urlpatterns = [
    path("", console.requests_list, name="list"),
    path("<int:pk>/", console.request_detail, name="detail"),
    path("<int:pk>/cancel/", console.request_cancel_view, name="cancel"),
    # the life-cycle buttons of a user's and an account's page: each creates a request
    path("users/<int:pk>/<slug:action>/", console_actions.user_action, name="user_action"),
    # directory changes for a chosen user, each a request (console_grants.py)
    path("users/new/", console_grants.user_new, name="user_new"),
    path("users/<int:pk>/grant/<slug:kind>/", console_grants.user_grant, name="user_grant"),
    path(
        "users/<int:pk>/revoke-access/<slug:kind>/<int:obj_pk>/",
        console_grants.user_revoke,
        name="user_revoke",
    ),
    path("roles/<int:pk>/members/add/", console_grants.role_members_add, name="role_members_add"),
    path("lookup/<slug:kind>/", console_grants.lookup, name="lookup"),
    path("accounts/<int:pk>/<slug:action>/", console_actions.account_action, name="account_action"),
    path("policies/", console_policies.policies, name="policies"),
    path("policies/new/", console_policies.policy_edit, name="policy_new"),
    path("policies/preview/", console_policies.policy_preview, name="policy_preview"),
    path("policies/<int:pk>/", console_policies.policy_detail, name="policy_detail"),
    path("policies/<int:pk>/edit/", console_policies.policy_edit, name="policy_edit"),
    path("policies/<int:pk>/active/", console_policies.policy_toggle, name="policy_toggle"),
    path("policies/<int:pk>/delete/", console_policies.policy_delete, name="policy_delete"),
    path("policies/<int:pk>/levels/new/", console_policies.level_edit, name="level_new"),
    path("policies/<int:pk>/levels/<int:level_pk>/edit/", console_policies.level_edit, name="level_edit"),
    path(
        "policies/<int:pk>/levels/<int:level_pk>/<slug:action>/",
        console_policies.level_action,
        name="level_action",
    ),
    path("validation-policies/", console_policies.validation_policies, name="validation_policies"),
    path("validation-policies/new/", console_policies.validation_policy_edit, name="validation_policy_new"),
    path(
        "validation-policies/<int:pk>/",
        console_policies.validation_policy_detail,
        name="validation_policy_detail",
    ),
    path(
        "validation-policies/<int:pk>/edit/",
        console_policies.validation_policy_edit,
        name="validation_policy_edit",
    ),
    path(
        "validation-policies/<int:pk>/active/",
        console_policies.validation_policy_toggle,
        name="validation_policy_toggle",
    ),
    path(
        "validation-policies/<int:pk>/delete/",
        console_policies.validation_policy_delete,
        name="validation_policy_delete",
    ),
    path("delegations/user/<int:user_pk>/add/", delegations.console_delegation_add, name="delegation_add"),
    path("delegations/<int:pk>/revoke/", delegations.console_delegation_revoke, name="delegation_revoke"),
    # task SLAs: calendars, task definitions, escalation policies
    path("calendars/", console_sla.calendars, name="calendars"),
    path("calendars/new/", console_sla.calendar_edit, name="calendar_new"),
    path("calendars/<int:pk>/", console_sla.calendar_detail, name="calendar_detail"),
    path("calendars/<int:pk>/edit/", console_sla.calendar_edit, name="calendar_edit"),
    path("calendars/<int:pk>/delete/", console_sla.calendar_delete, name="calendar_delete"),
    path("calendars/holidays/<int:pk>/delete/", console_sla.holiday_delete, name="holiday_delete"),
    path("task-definitions/", console_sla.definitions, name="definitions"),
    path("task-definitions/new/", console_sla.definition_edit, name="definition_new"),
    path("task-definitions/<int:pk>/edit/", console_sla.definition_edit, name="definition_edit"),
    path("task-definitions/<int:pk>/delete/", console_sla.definition_delete, name="definition_delete"),
    path("escalation-policies/", console_sla.escalations, name="escalations"),
    path("escalation-policies/new/", console_sla.escalation_edit, name="escalation_new"),
    path("escalation-policies/<int:pk>/", console_sla.escalation_detail, name="escalation_detail"),
    path("escalation-policies/<int:pk>/edit/", console_sla.escalation_edit, name="escalation_edit"),
    path("escalation-policies/<int:pk>/delete/", console_sla.escalation_delete, name="escalation_delete"),
    path("escalation-policies/<int:policy_pk>/steps/new/", console_sla.step_edit, name="step_new"),
    path("escalation-policies/steps/<int:pk>/edit/", console_sla.step_edit, name="step_edit"),
    path("escalation-policies/steps/<int:pk>/delete/", console_sla.step_delete, name="step_delete"),
]
