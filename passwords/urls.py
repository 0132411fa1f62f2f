"""URLs of password management (namespace ``passwords``), mounted at the site root because
they live under three prefixes: the workspace, the console and the public reset pages."""

from __future__ import annotations

from django.urls import path

from passwords.views import console, workspace

urlpatterns = [
    # public: the forgotten-password final step (blazon.authcontract) and help-desk links
    path("password/reset/new/", workspace.reset_new, name="reset_new"),
    path("password/reset/check/", workspace.check_reset, name="check_reset"),
    path("password/reset/link/<str:token>/", workspace.reset_link, name="reset_link"),
    # workspace
    path("workspace/password/", workspace.change, name="change"),
    path("workspace/password/check/", workspace.check, name="check"),
    # console
    path("console/passwords/policies/", console.policies, name="policies"),
    path("console/passwords/policies/new/", console.policy_edit, {"kind": "password"}, name="policy_new"),
    path(
        "console/passwords/policies/<int:pk>/edit/",
        console.policy_edit,
        {"kind": "password"},
        name="policy_edit",
    ),
    path(
        "console/passwords/policies/<int:pk>/delete/",
        console.policy_delete,
        {"kind": "password"},
        name="policy_delete",
    ),
    path("console/passwords/change-policies/", console.change_policies, name="change_policies"),
    path(
        "console/passwords/change-policies/new/",
        console.policy_edit,
        {"kind": "change"},
        name="change_policy_new",
    ),
    path(
        "console/passwords/change-policies/<int:pk>/edit/",
        console.policy_edit,
        {"kind": "change"},
        name="change_policy_edit",
    ),
    path(
        "console/passwords/change-policies/<int:pk>/delete/",
        console.policy_delete,
        {"kind": "change"},
        name="change_policy_delete",
    ),
    path("console/passwords/dictionary/", console.dictionary, name="dictionary"),
    path(
        "console/passwords/dictionary/<int:pk>/remove/", console.dictionary_remove, name="dictionary_remove"
    ),
    path("console/users/<int:pk>/password/", console.helpdesk, name="helpdesk"),
    path("console/resources/<int:pk>/password-sync/", console.resource_sync, name="resource_sync"),
]
