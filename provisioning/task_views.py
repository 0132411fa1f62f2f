"""Manual provisioning tasks in the workspace ("My tasks"): the resource owner sees the change the
application must receive — what, on which resource, for whom, why the adapter could not do it —
makes it by hand and says so (with the application's identifier), or says it cannot be done,
which fails the entry and rolls its request back. The rules live in
``provisioning.services.manual``; this module only shows and forwards.

These are hooks of the worklist's task pages (registered by this app's ``ready()`` with the
PROVISIONING task kind): the worklist finds the task among the user's open tasks, then calls
``provisioning_task_page`` for its page and the actions for ``reveal-password`` and ``resolve``.
The task reaches its entry through its typed subject link (``provisioning.subjects``)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext

from blazon.errors import DomainError, NotAllowed
from directory.models import Source
from provisioning.models import ProvisioningEntry
from provisioning.services.manual import entry_resolve_done, entry_resolve_failed, entry_secret_reveal
from provisioning.subjects import ENTRY_RELATED, entry_of_task
from worklist.models import Task

SRC = Source.WORKSPACE
HIDDEN_KEYS = ("secret_id", "password", "secret")


def _entry(task: Task) -> ProvisioningEntry | None:
    return entry_of_task(task, related=ENTRY_RELATED)


def provisioning_task_page(request: HttpRequest, task: Task, *, revealed: str | None = None) -> HttpResponse:
    entry = _entry(task)
    payload = {
        k: v
        for k, v in (entry.payload if entry else {}).items()
        if not any(h in k.lower() for h in HIDDEN_KEYS)
    }
    context = {
        "task": task,
        "req": task.request,
        "entry": entry,
        "payload": sorted(payload.items()),
        "has_secret": bool(entry and entry.payload.get("secret_id")),
        "may_reveal": task.assignees.filter(pk=request.user.pk).exists(),
        "revealed": revealed,
    }
    response = render(request, "workspace/requests/provisioning_task.html", context)
    if revealed is not None:
        response["Cache-Control"] = "no-store"  # the password must not stay in a cache
    return response


def provisioning_task_reveal(request: HttpRequest, task: Task) -> HttpResponse:
    """Show the entry's password once, on this response only (never in a message, a list or a
    log), to an assignee of the task; the vault and the audit log record who saw it."""
    try:
        value = entry_secret_reveal(actor=request.user, source=SRC, task=task)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("workspace_requests:task", pk=task.pk)
    return provisioning_task_page(request, task, revealed=value)


def provisioning_task_resolve(request: HttpRequest, task: Task, outcome: str) -> HttpResponse:
    entry = _entry(task)
    if entry is None or outcome not in ("done", "failed"):
        messages.error(request, gettext("This task is not a manual provisioning task."))
        return redirect("workspace_requests:tasks")
    try:
        if outcome == "done":
            entry_resolve_done(
                actor=request.user,
                source=SRC,
                entry=entry,
                native_identifier=request.POST.get("native_identifier", "").strip(),
                comment=request.POST.get("comment", "").strip(),
            )
            messages.success(
                request, gettext("Task #%(id)s: the change is recorded as made.") % {"id": task.pk}
            )
        else:
            entry_resolve_failed(
                actor=request.user, source=SRC, entry=entry, reason=request.POST.get("reason", "")
            )
            messages.success(
                request,
                gettext("Task #%(id)s: recorded as not possible; the access is undone.") % {"id": task.pk},
            )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("workspace_requests:task", pk=task.pk)
    return redirect("workspace_requests:tasks")
