"""The console dashboard's overdue tasks: open tasks past their due date, by kind."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Min
from django.utils import timezone

from blazon.panels import CONSOLE_DASHBOARD, register_panel
from blazon.permissions import can
from worklist.models import Task, TaskKind, TaskStatus


def overdue_panel(user: Any) -> dict[str, Any] | None:
    if not can(user, "view"):
        return None
    now = timezone.now()
    late = Task.objects.filter(status=TaskStatus.OPEN, due_at__lt=now)
    labels = dict(TaskKind.choices)
    rows = [
        {"kind": r["kind"], "label": labels.get(r["kind"], r["kind"]), "n": r["n"], "oldest": r["oldest"]}
        for r in late.values("kind").annotate(n=Count("pk"), oldest=Min("due_at")).order_by("-n")
    ]
    return {
        "rows": rows,
        "total": sum(r["n"] for r in rows),
        "open": Task.objects.filter(status=TaskStatus.OPEN).count(),
    }


def register() -> None:
    register_panel(
        CONSOLE_DASHBOARD, "overdue_tasks", order=30, template="console/dashboard/overdue_tasks.html",
        build=overdue_panel,
    )  # fmt: skip
