"""Console request pages: the requests with filters, a request's timeline, tasks and audit, the
and the task queues. The policy pages are in ``console_policies``.

Reading needs the ``view`` capability; the audit events need ``view_audit``; cancelling needs
``manage_users`` (the service checks again)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from blazon.audit.models import AuditEvent
from blazon.console import ObjectListView, capability_required, list_page, render_console
from blazon.errors import DomainError
from blazon.ids import parse_id
from blazon.permissions import can
from directory.models import Source
from requests_workflow.models import Request, RequestStatus, RequestType
from requests_workflow.services.approvals import task_approve, task_reject
from requests_workflow.services.requests import request_cancel
from requests_workflow.views.common import REQUEST_RELATED, cancelable, request_object, timeline
from sod.views import parse_expiry
from worklist.models import LEGACY_LABELS, Queue, Task, TaskStatus

REQUEST_LABEL = Request._meta.label
# Audit events written before the worklist models moved out of requests_workflow carry the old
# label; the audit log is append-only and hash-chained, so they keep it and we read both.
TASK_LABELS = (Task._meta.label, LEGACY_LABELS[Task._meta.label])


def _valid_dates(request: HttpRequest) -> None:
    """Drop a malformed date filter instead of failing on it."""
    params = request.GET.copy()
    for name in ("from", "to"):
        try:
            if params.get(name):
                date.fromisoformat(params[name])
        except ValueError:
            params.pop(name)
            messages.error(request, f"Ignored the {name} date: give it as YYYY-MM-DD.")
    request.GET = params


class RequestsList(ObjectListView):
    queryset, template_name = Request.objects.select_related(*REQUEST_RELATED), "console/requests/list.html"
    search, default_order = ("justification",), "-id"
    filters = {
        "type": "type",
        "status": "status",
        "beneficiary": "beneficiary__username__icontains",
        "requester": "requester__username__icontains",
        "from": "created_at__date__gte",
        "to": "created_at__date__lte",
    }
    orderings = {"id": "id", "type": "type", "status": "status", "created": "created_at"}

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        _valid_dates(request)
        return super().get(request, *args, **kwargs)

    def render(self, context: dict[str, Any], status: int = 200) -> HttpResponse:
        context["rows"] = [(r, request_object(r)) for r in context["object_list"]]
        return super().render(context, status)

    def extra_context(self) -> dict[str, Any]:
        return {"types": RequestType.choices, "statuses": RequestStatus.choices}


requests_list = RequestsList.as_view()


@capability_required("view")
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(Request.objects.select_related(*REQUEST_RELATED, "approval_policy"), pk=pk)
    tasks = list(
        req.tasks.select_related("queue", "decided_by", "on_behalf_of")
        .prefetch_related("assignees")
        .order_by("id")
    )
    history = None
    if can(request.user, "view_audit"):
        history = AuditEvent.objects.filter(
            Q(object_type=REQUEST_LABEL, object_id=str(req.pk))
            | Q(object_type__in=TASK_LABELS, object_id__in=[str(t.pk) for t in tasks])
        ).order_by("-seq")[:100]
    context = {
        "req": req,
        "what": request_object(req),
        "stages": timeline(req),
        "tasks": tasks,
        "history": history,
        "can_cancel": cancelable(req) and can(request.user, "manage_users"),
        # tasks no approver was found for: a console administrator decides them here
        "undecided": [
            t for t in tasks if t.status == TaskStatus.OPEN and t.queue_id is None and not t.assignees.all()
        ]
        if can(request.user, "manage_users")
        else [],
    }
    return render_console(request, "console/requests/detail.html", context)


@capability_required("manage_users")
@require_POST
def request_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(Request, pk=pk)
    try:
        request_cancel(
            actor=request.user, source=Source.CONSOLE, request=req, reason=request.POST.get("reason", "")
        )
        messages.success(request, f"Request #{req.pk} canceled.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("console_requests:detail", pk=req.pk)


@capability_required("manage_users")
@require_POST
def task_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    """A console administrator decides a task no approver could be found for."""
    task = get_object_or_404(Task, pk=pk, status=TaskStatus.OPEN, request__isnull=False)
    reason = request.POST.get("reason", "").strip()
    try:
        if decision == "approve":
            task_approve(
                actor=request.user,
                source=Source.CONSOLE,
                task=task,
                comment=reason,
                exception_expires_at=parse_expiry(request.POST.get("expires", "")),
            )
            messages.success(request, f"Request #{task.request_id} approved.")
        elif decision == "reject":
            task_reject(actor=request.user, source=Source.CONSOLE, task=task, reason=reason)
            messages.success(request, f"Request #{task.request_id} rejected.")
        else:
            raise Http404("Unknown decision.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("console_requests:detail", pk=task.request_id)


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
    tasks = open_tasks.select_related("queue", *(f"request__{r}" for r in REQUEST_RELATED)).prefetch_related(
        "assignees"
    )
    if selected == "users":
        tasks = tasks.filter(queue__isnull=True, assignees__isnull=False).distinct()
    elif selected == "unassigned":
        tasks = tasks.filter(queue__isnull=True, assignees__isnull=True)
    elif parse_id(selected) is not None:
        tasks = tasks.filter(queue_id=parse_id(selected))
    context = list_page(request, tasks.order_by("created_at", "id"))
    context.update(
        queues=queue_rows,
        selected=selected,
        n_users=open_tasks.filter(queue__isnull=True, assignees__isnull=False).distinct().count(),
        n_unassigned=open_tasks.filter(queue__isnull=True, assignees__isnull=True).count(),
        rows=[(t, request_object(t.request) if t.request_id else "") for t in context["object_list"]],
    )
    return render_console(request, "console/requests/queues.html", context)
