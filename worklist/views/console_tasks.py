"""Console task pages: the task queues with their open tasks, and the decision a console
administrator makes on a task no approver was found for (from the request's page).

Reading needs the ``view`` capability, deciding ``manage_users`` (the app owning the task's kind
checks again, through ``worklist.services.task_decide``)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from blazon.console import capability_required, list_page, render_console
from blazon.errors import DomainError
from blazon.ids import parse_id
from directory.models import Source
from worklist.models import Queue, Task, TaskKind, TaskStatus
from worklist.registry import APPROVE, REJECT, subject_console_url, subject_ref_text, task_kind_handler
from worklist.selectors import tasks_subjects_attach
from worklist.services import task_decide as decide


@capability_required("manage_users")
@require_POST
def task_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    """A console administrator decides a task no approver could be found for."""
    task = get_object_or_404(Task, pk=pk, status=TaskStatus.OPEN, request__isnull=False)
    if decision not in ("approve", "reject"):
        raise Http404("Unknown decision.")
    reason = request.POST.get("reason", "").strip()
    ref = task.subject_ref
    try:
        # the kind's own fields of an approval (an SoD exception's expiry, an access period)
        handler = task_kind_handler(task.kind)
        details = (
            handler.details(request, task) if decision == "approve" and handler.details is not None else {}
        )
        decide(
            actor=request.user,
            source=Source.CONSOLE,
            task=task,
            decision=APPROVE if decision == "approve" else REJECT,
            comment=reason,
            **details,
        )
        what = subject_ref_text(ref) if ref is not None else gettext("Task #%(id)s") % {"id": task.pk}
        done = gettext("%(what)s approved.") if decision == "approve" else gettext("%(what)s rejected.")
        messages.success(request, done % {"what": what})
    except DomainError as exc:
        messages.error(request, exc.message)
    back = subject_console_url(ref, task.subject) if ref is not None else None
    return redirect(back or "console_requests:queues")


@capability_required("view")
def queues(request: HttpRequest) -> HttpResponse:
    open_tasks = Task.objects.filter(status=TaskStatus.OPEN)
    queue_rows = list(
        Queue.objects.annotate(
            n_open=Count("tasks", filter=Q(tasks__status=TaskStatus.OPEN)),
            n_members=Count("members", distinct=True),
        ).order_by("name")
    )
    selected = request.GET.get("queue", "")
    tasks = open_tasks.select_related("queue", "request").prefetch_related("assignees")
    if selected == "users":
        tasks = tasks.filter(queue__isnull=True, assignees__isnull=False).distinct()
    elif selected == "unassigned":
        tasks = tasks.filter(queue__isnull=True, assignees__isnull=True)
    elif parse_id(selected) is not None:
        tasks = tasks.filter(queue_id=parse_id(selected))
    # the dashboard's drill-down: overdue tasks, of one kind
    overdue = request.GET.get("overdue", "") in {"1", "true", "yes"}
    if overdue:
        tasks = tasks.filter(due_at__lt=timezone.now())
    kind = request.GET.get("kind", "")
    if kind in TaskKind.values:
        tasks = tasks.filter(kind=kind)
    context = list_page(request, tasks.order_by("created_at", "id"))
    page = tasks_subjects_attach(list(context["object_list"]))
    context.update(
        queues=queue_rows,
        selected=selected,
        overdue=overdue,
        kind_label=dict(TaskKind.choices).get(kind, ""),
        n_users=open_tasks.filter(queue__isnull=True, assignees__isnull=False).distinct().count(),
        n_unassigned=open_tasks.filter(queue__isnull=True, assignees__isnull=True).count(),
        rows=[(t, t.subject_label) for t in page],
    )
    return render_console(request, "console/requests/queues.html", context)
