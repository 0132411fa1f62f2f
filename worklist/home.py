"""The workspace home's "My tasks" panel: what waits for me, soonest due first."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils import timezone

from blazon.panels import WORKSPACE_HOME, register_panel
from worklist.selectors import open_tasks_for

SHOWN = 5


def tasks_panel(user: Any) -> dict[str, Any] | None:
    tasks = open_tasks_for(user)
    total = tasks.count()
    if not total:
        return {"tasks": [], "total": 0, "overdue": 0}
    now = timezone.now()
    return {
        "tasks": list(tasks.order_by(F("due_at").asc(nulls_last=True), "pk")[:SHOWN]),
        "total": total,
        "overdue": tasks.filter(due_at__lt=now).count(),
        "now": now,
    }


def register() -> None:
    register_panel(WORKSPACE_HOME, "tasks", order=10, template="workspace/home/tasks.html", build=tasks_panel)
