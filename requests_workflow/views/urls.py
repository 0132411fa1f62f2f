"""URL maps of the request pages: ``/workspace/requests/`` (namespace ``workspace_requests``) and
``/console/requests/`` (namespace ``console_requests``), included from ``blazon/urls.py``."""

from __future__ import annotations

from django.urls import path

from requests_workflow.views import console, delegations, workspace

workspace_urlpatterns = [
    path("", workspace.my_requests, name="mine"),
    path("catalog/", workspace.catalog, name="catalog"),
    path("cart/", workspace.cart, name="cart"),
    path("cart/add/", workspace.cart_add, name="cart_add"),
    path("cart/remove/", workspace.cart_remove, name="cart_remove"),
    path("<int:pk>/", workspace.my_request_detail, name="detail"),
    path("<int:pk>/cancel/", workspace.my_request_cancel, name="cancel"),
    path("tasks/", workspace.my_tasks, name="tasks"),
    path("tasks/approve/", workspace.tasks_bulk_approve, name="tasks_bulk_approve"),
    path("tasks/<int:pk>/", workspace.task_detail, name="task"),
    path("tasks/<int:pk>/<slug:decision>/", workspace.task_decide, name="task_decide"),
    path("out-of-office/", delegations.out_of_office, name="out_of_office"),
    path("out-of-office/<int:pk>/revoke/", delegations.out_of_office_revoke, name="out_of_office_revoke"),
]

console_urlpatterns = [
    path("", console.requests_list, name="list"),
    path("<int:pk>/", console.request_detail, name="detail"),
    path("<int:pk>/cancel/", console.request_cancel_view, name="cancel"),
    path("tasks/<int:pk>/<slug:decision>/", console.task_decide, name="task_decide"),
    path("queues/", console.queues, name="queues"),
    path("policies/", console.policies, name="policies"),
    path("policies/<int:pk>/", console.policy_detail, name="policy_detail"),
    path("delegations/user/<int:user_pk>/add/", delegations.console_delegation_add, name="delegation_add"),
    path("delegations/<int:pk>/revoke/", delegations.console_delegation_revoke, name="delegation_revoke"),
]
