"""Workspace task pages ("My tasks"): the list of open tasks the user may decide, a task's page,
its decision (approve, reject, comment) and the actions of its kind.

Every page is for the logged-in ACTIVE user (``workspace_required``); a task that is not theirs
to decide is a 404, so its existence is not disclosed. What a task means belongs to the app that
owns its kind (``worklist.registry.register_task_kind``): its page, the extra fields of its
decision, comments and its own actions are that app's hooks, and the decision itself goes through
``worklist.services.task_decide``, which hands it to that app. This module imports no app above the
worklist."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import F, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from blazon.errors import DomainError
from blazon.ids import parse_id
from blazon.permissions import can
from directory.models import Source, User
from directory.views.common import workspace_required
from worklist.models import Task, TaskKind
from worklist.registry import APPROVE, REJECT, page_context, subject_ref_text, task_kind_handler
from worklist.selectors import attach_delegators, open_tasks_for, tasks_subjects_attach
from worklist.services import task_decide as decide

SRC = Source.WORKSPACE
# What the task lists show of the request a task belongs to (requester, beneficiary).
LIST_RELATED = ("queue", "request__requester", "request__beneficiary")


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # workspace_required: a signed-in directory user
    return user


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    context.setdefault("can_console", can(request.user, "view"))
    context.setdefault("task_count", open_tasks_for(_user(request)).count())
    for key, value in page_context(request).items():
        context.setdefault(key, value)
    return render(request, template, context, status=status)


def _ref(task: Task) -> str:
    """``Request #12`` (the subject), or ``Task #7`` for a task about nothing registered."""
    ref = task.subject_ref
    return subject_ref_text(ref) if ref is not None else gettext("Task #%(id)s") % {"id": task.pk}


def my_task(request: HttpRequest, pk: int) -> Task:
    """An open task the user may decide (with whom they decide it for), or 404."""
    qs = open_tasks_for(_user(request)).select_related(*LIST_RELATED)
    task = get_object_or_404(qs, pk=pk)
    attach_delegators([task])
    return task


TASKS_PER_PAGE = 25


@workspace_required
def my_tasks(request: HttpRequest) -> HttpResponse:
    """Open tasks the user may decide, soonest due first (tasks with no due date last, oldest
    first), 25 a page; filters: kind, requester (part of a username or name), overdue only."""
    qs = open_tasks_for(_user(request))
    kind = request.GET.get("kind", "")
    if kind in TaskKind.values:
        qs = qs.filter(kind=kind)
    requester = request.GET.get("requester", "").strip()
    if requester:
        qs = qs.filter(
            Q(request__requester__username__icontains=requester)
            | Q(request__requester__first_name__icontains=requester)
            | Q(request__requester__last_name__icontains=requester)
        )
    overdue = request.GET.get("overdue", "") in {"1", "on", "yes", "true"}
    if overdue:
        qs = qs.filter(due_at__lt=timezone.now())
    qs = qs.select_related(*LIST_RELATED).order_by(F("due_at").asc(nulls_last=True), "created_at", "id")
    page = Paginator(qs, TASKS_PER_PAGE).get_page(request.GET.get("page"))
    tasks = tasks_subjects_attach(attach_delegators(list(page.object_list)))
    context = {
        "rows": [(t, t.subject_label) for t in tasks],
        "page_obj": page,
        "kinds": TaskKind.choices,
        "kind": kind if kind in TaskKind.values else "",
        "requester": requester,
        "overdue": overdue,
        "any_approvable": any(t.kind == TaskKind.APPROVAL for t in tasks),
        "filtered": bool(kind or requester or overdue),
    }
    return _render(request, "workspace/requests/tasks.html", context)


@workspace_required
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = my_task(request, pk)
    page = task_kind_handler(task.kind).page
    if page is not None:
        return page(request, task)
    tasks_subjects_attach([task])
    return _render(request, "workspace/worklist/task.html", {"task": task, "ref": _ref(task)})


@workspace_required
@require_POST
def task_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    task = my_task(request, pk)
    handler = task_kind_handler(task.kind)
    text = request.POST.get("comment", "").strip()
    try:
        if decision == "approve":
            details = handler.details(request, task) if handler.details is not None else {}
            decide(actor=_user(request), source=SRC, task=task, decision=APPROVE, comment=text, **details)
            messages.success(request, gettext("%(what)s approved.") % {"what": _ref(task)})
        elif decision == "reject":
            if not text:
                messages.error(request, gettext("A rejection needs a reason."))
                return redirect("workspace_requests:task", pk=task.pk)
            decide(actor=_user(request), source=SRC, task=task, decision=REJECT, comment=text)
            messages.success(request, gettext("%(what)s rejected.") % {"what": _ref(task)})
        elif decision == "comment" and handler.comment is not None:
            if not text:
                messages.error(request, gettext("Write a comment first."))
            else:
                handler.comment(
                    actor=_user(request),
                    source=SRC,
                    task=task,
                    text=text,
                    on_behalf_of=getattr(task, "delegated_from", None),
                )
                messages.success(request, gettext("Comment added to the request's history."))
            return redirect("workspace_requests:task", pk=task.pk)
        else:
            raise Http404("Unknown decision.")
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("workspace_requests:task", pk=task.pk)
    return redirect("workspace_requests:tasks")


@workspace_required
@require_POST
def task_action(request: HttpRequest, pk: int, action: str, **kwargs: str) -> HttpResponse:
    """An action of the task's kind (``register_task_kind(actions=...)``), on an open task of
    the user's; a kind without that action refuses (403)."""
    task = my_task(request, pk)
    view = task_kind_handler(task.kind).actions.get(action)
    if view is None:
        raise PermissionDenied(
            gettext("%(kind)s tasks have no action %(action)r.")
            % {"kind": task.get_kind_display(), "action": action}
        )
    return view(request, task, **kwargs)


@workspace_required
@require_POST
def tasks_bulk_approve(request: HttpRequest) -> HttpResponse:
    ids = [i for i in map(parse_id, request.POST.getlist("task")) if i is not None]
    if not ids:
        messages.error(request, gettext("Select the tasks to approve."))
        return redirect("workspace_requests:tasks")
    user = _user(request)
    tasks = list(open_tasks_for(user).filter(pk__in=ids, kind=TaskKind.APPROVAL).order_by("id"))
    approved, refused = [], []
    for task in tasks:
        number = f"#{task.subject_id or task.pk}"
        try:
            decide(actor=user, source=SRC, task=task, decision=APPROVE, comment="Approved in bulk.")
            approved.append(number)
        except DomainError as exc:
            refused.append(f"{number}: {exc.message}")
    missing = len(set(ids)) - len(tasks)
    if approved:
        messages.success(
            request,
            gettext("Approved %(count)s request(s): %(numbers)s.")
            % {"count": len(approved), "numbers": ", ".join(approved)},
        )
    for problem in refused:
        messages.error(request, problem)
    if missing:
        messages.error(
            request, gettext("%(count)s selected task(s) are no longer open for you.") % {"count": missing}
        )
    return redirect("workspace_requests:tasks")
