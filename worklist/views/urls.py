"""URL maps of the task pages. They keep the addresses and names they had under the request
pages (``/workspace/requests/tasks/…``, namespace ``workspace_requests``; the console's task
queues under ``console_requests``): ``blazon/urls.py`` mounts these lists in those namespaces."""

from __future__ import annotations

from django.urls import path

from worklist.views import console_tasks, workspace

workspace_urlpatterns = [
    path("tasks/", workspace.my_tasks, name="tasks"),
    path("tasks/approve/", workspace.tasks_bulk_approve, name="tasks_bulk_approve"),
    path("tasks/<int:pk>/", workspace.task_detail, name="task"),
    # the actions of manual provisioning tasks (registered by provisioning)
    path(
        "tasks/<int:pk>/provisioning/reveal-password/",
        workspace.task_action,
        {"action": "reveal-password"},
        name="provisioning_reveal",
    ),
    path(
        "tasks/<int:pk>/provisioning/<slug:outcome>/",
        workspace.task_action,
        {"action": "resolve"},
        name="provisioning_resolve",
    ),
    path("tasks/<int:pk>/<slug:decision>/", workspace.task_decide, name="task_decide"),
]

console_urlpatterns = [
    path("tasks/<int:pk>/<slug:decision>/", console_tasks.task_decide, name="task_decide"),
    path("queues/", console_tasks.queues, name="queues"),
]
