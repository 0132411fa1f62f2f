"""Console (``/console/privileged/``) and workspace (``/workspace/privileged/``) pages."""

from django.urls import path

from privileged import personal, views

console_urlpatterns = [
    path("groups/", views.GroupList.as_view(), name="groups"),
    path("groups/new/", views.group_edit, name="group_new"),
    path("groups/<int:pk>/", views.GroupDetail.as_view(), name="group"),
    path("groups/<int:pk>/edit/", views.group_edit, name="group_edit"),
    path("groups/<int:pk>/delete/", views.GroupDelete.as_view(), name="group_delete"),
    path("rotation-policies/", views.PolicyList.as_view(), name="policies"),
    path("rotation-policies/new/", views.policy_edit, name="policy_new"),
    path("rotation-policies/<int:pk>/edit/", views.policy_edit, name="policy_edit"),
    path("rotation-policies/<int:pk>/delete/", views.PolicyDelete.as_view(), name="policy_delete"),
    path("itsm-instances/", views.ItsmList.as_view(), name="itsm"),
    path("itsm-instances/new/", views.itsm_edit, name="itsm_new"),
    path("itsm-instances/<int:pk>/edit/", views.itsm_edit, name="itsm_edit"),
    path("itsm-instances/<int:pk>/delete/", views.ItsmDelete.as_view(), name="itsm_delete"),
    path("requests/", views.RequestList.as_view(), name="requests"),
    path("requests/<int:pk>/", views.RequestDetail.as_view(), name="request"),
    path("requests/<int:pk>/revoke/", views.console_revoke, name="request_revoke"),
]

workspace_urlpatterns = [
    path("", views.credentials, name="credentials"),
    path("request/<int:account_pk>/", views.request_new, name="request_new"),
    path("requests/", views.mine, name="mine"),
    path("requests/<int:pk>/reveal/", views.reveal, name="reveal"),
    path("requests/<int:pk>/<slug:action>/", views.own_action, name="own_action"),
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<int:pk>/", views.approval, name="approval"),
    path("approvals/<int:pk>/<slug:decision>/", views.approval_decide, name="approval_decide"),
    path("vault/", personal.vault_home, name="vault"),
    path("vault/unlock/", personal.vault_unlock, name="vault_unlock"),
    path("vault/new/", personal.vault_store, name="vault_store"),
    path("vault/<uuid:pk>/edit/", personal.vault_edit, name="vault_edit"),
    path("vault/<uuid:pk>/delete/", personal.vault_delete, name="vault_delete"),
    path("vault/<uuid:pk>/reveal/", personal.vault_reveal, name="vault_reveal"),
]
