"""``{% sod_conflicts task %}``: the SoD conflicts behind a request's SoD task (what is asked for,
how the beneficiary holds the other side), for the task and request pages."""

from __future__ import annotations

from typing import Any

from django import template

from sod.models import SoDRequestConflict

register = template.Library()


@register.inclusion_tag("sod/_conflicts.html")
def sod_conflicts(task: Any) -> dict[str, Any]:
    rows = (
        list(SoDRequestConflict.objects.filter(task_id=task.pk).select_related("rule"))
        if getattr(task, "kind", "") == "SOD"
        else []
    )
    return {"conflicts": rows}
