"""Console (``/console/sod/``) and workspace (``/workspace/sod/``) pages of SoD."""

from django.urls import path

from sod import views

console_urlpatterns = [
    path("rules/", views.RuleList.as_view(), name="rules"),
    path("rules/new/", views.rule_edit, name="rule_new"),
    path("rules/import/", views.rules_import, name="rules_import"),
    path("rules/<int:pk>/", views.RuleDetail.as_view(), name="rule"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", views.RuleDelete.as_view(), name="rule_delete"),
    path("matrix/", views.matrix, name="matrix"),
    path("violations/", views.ViolationList.as_view(), name="violations"),
    path("violations/scan/", views.scan_now, name="scan"),
    path("exceptions/", views.ExceptionList.as_view(), name="exceptions"),
    path("exceptions/<int:pk>/revoke/", views.exception_revoke, name="exception_revoke"),
    path("policies/", views.PolicyList.as_view(), name="policies"),
    path("policies/new/", views.policy_edit, name="policy_new"),
    path("policies/<int:pk>/", views.PolicyDetail.as_view(), name="policy"),
    path("policies/<int:pk>/edit/", views.policy_edit, name="policy_edit"),
    path("policies/<int:pk>/delete/", views.PolicyDelete.as_view(), name="policy_delete"),
]

workspace_urlpatterns = [
    path("tasks/<int:pk>/", views.violation_task, name="violation_task"),
    path("tasks/<int:pk>/<slug:decision>/", views.violation_task_decide, name="violation_task_decide"),
]
