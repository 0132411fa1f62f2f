"""Console pages of reconciliation (filled in by the next commit)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from worklist.models import Task


def case_task_page(request: HttpRequest, task: Task) -> HttpResponse:
    """A reconciliation task's page in My tasks: the case's page, with its resolutions."""
    return redirect("console_reconciliation:case", pk=task.subject_id)
