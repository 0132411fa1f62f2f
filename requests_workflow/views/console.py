"""Console request pages: the requests with filters, a request's timeline, tasks and audit. The
policy pages are in ``console_policies``; the task queues and the console's decision on a task
nobody was found for are the worklist's (``worklist.views.console_tasks``).

Reading needs the ``view`` capability; the audit events need ``view_audit``; cancelling needs
``manage_users`` (the service checks again)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from blazon.audit.models import AuditEvent
from blazon.console import ObjectActionView, ObjectListView, capability_required, render_console
from blazon.permissions import can
from requests_workflow.models import Request, RequestStatus, RequestType
from requests_workflow.services.requests import request_cancel
from requests_workflow.views.common import REQUEST_RELATED, cancelable, request_object, timeline
from worklist.models import LEGACY_LABELS, Task, TaskStatus

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
            messages.error(
                request, gettext("Ignored the %(name)s date: give it as YYYY-MM-DD.") % {"name": name}
            )
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


request_cancel_view = ObjectActionView.as_view(
    model=Request,
    capability="manage_users",
    action=request_cancel,
    post_fields=("reason",),
    detail_route="console_requests:detail",
    done_message=_("Request {name} canceled."),
    name_of=lambda req: f"#{req.pk}",
)
