"""Console and workspace pages of privileged access.

Console (``/console/privileged/``; read: any console role; change: administrators; revoke:
operators who manage users): access groups (list, detail, edit, delete) and the requests report
(filters, CSV). Workspace (``/workspace/privileged/``; any active user): my credentials (what my
groups give me and under which rule), the justification form, my requests (use the credential
within the window, cancel, declare an emergency) and my approvals (approve with the window,
disapprove, revoke)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from blazon.console.access import capability_required, workspace_required
from blazon.console.views import ObjectDeleteView, ObjectEditView, ObjectListView, ObjectView
from blazon.errors import DomainError
from directory.models import Account, Source, User
from privileged import selectors
from privileged.forms import (
    AccessGroupForm,
    AccessRequestForm,
    ApproveForm,
    ItsmInstanceForm,
    RotationPolicyForm,
)
from privileged.models import AccessGroup, AccessRequest, AccessStatus, ItsmInstance, ItsmKind, RotationPolicy
from privileged.services.flow import (
    access_request_cancel,
    access_request_create,
    access_request_emergency,
    access_request_revoke,
    access_reveal,
    is_approver,
    may_decide,
)
from privileged.services.groups import access_group_create, access_group_delete, access_group_update
from privileged.services.itsm import itsm_instance_create, itsm_instance_delete, itsm_instance_update
from privileged.services.rotation import (
    rotation_policy_create,
    rotation_policy_delete,
    rotation_policy_update,
)
from worklist.models import Task, TaskKind, TaskStatus
from worklist.registry import APPROVE, REJECT
from worklist.services import task_decide

# --- console: access groups ----------------------------------------------------------------------


class GroupList(ObjectListView):
    queryset = selectors.groups_all()
    template_name = "console/privileged/groups.html"
    search = ("code", "name", "description")
    filters = {
        "active": "active",
        "emergency": "emergency_allowed",
        "code_required": "governance_code_required",
    }
    orderings = {"code": "code", "name": "name", "window": "max_window_minutes", "levels": "n_levels"}
    default_order = "code"
    csv_name = "access-groups"
    csv_columns = (
        ("code", "code"),
        ("name", "name"),
        ("active", "active"),
        ("approval_required", "approval_required"),
        ("levels", "n_levels"),
        ("max_window_minutes", "max_window_minutes"),
        ("governance_code_required", "governance_code_required"),
        ("emergency_allowed", "emergency_allowed"),
    )


class GroupDetail(ObjectView):
    queryset = selectors.groups_all()
    template_name = "console/privileged/group.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        group = self.get_object()
        recent = selectors.requests_all().filter(group=group)[:20]
        return self.render({"group": group, "levels": group.levels.all(), "recent": recent})


group_edit = ObjectEditView.as_view(
    model=AccessGroup,
    form_class=AccessGroupForm,
    noun="access group",
    new_title=gettext_lazy("New access group"),
    edit_title=gettext_lazy("Edit access group {name}"),
    saved_message=gettext_lazy("Access group {name} saved."),
    kind="access-group",
    create=access_group_create,
    update=access_group_update,
    object_kwarg="group",
    detail_route="console_privileged:group",
    list_route="console_privileged:groups",
)


class GroupDelete(ObjectDeleteView):
    model, noun = AccessGroup, "access group"
    delete_service = staticmethod(access_group_delete)
    object_kwarg = "group"
    detail_route, list_route = "console_privileged:group", "console_privileged:groups"
    list_title = cast(str, gettext_lazy("Access groups"))
    deleted_message = cast(str, gettext_lazy("Access group {name} deleted."))

    def blockers(self, obj: AccessGroup) -> list[str]:
        live = obj.requests.filter(status__in=[AccessStatus.PENDING, AccessStatus.APPROVED]).count()
        return [_("%(count)s request(s) under it are pending or approved") % {"count": live}] if live else []

    def explain(self, obj: AccessGroup) -> str:
        return _(
            "Its members lose the credentials it gave them (unless another group gives them). Finished "
            "requests keep the rule they were made under; the audit log keeps the group's history."
        )


# --- console: rotation policies --------------------------------------------------------------------


class PolicyList(ObjectListView):
    queryset = RotationPolicy.objects.select_related("resource")
    template_name = "console/privileged/policies.html"
    search = ("name",)
    filters = {"account_type": "account_type", "active": "active"}
    orderings = {"name": "name"}
    default_order = "name"
    paginate_by = 0
    context_object_name = "policies"


policy_edit = ObjectEditView.as_view(
    model=RotationPolicy,
    form_class=RotationPolicyForm,
    noun="rotation policy",
    new_title=gettext_lazy("New rotation policy"),
    edit_title=gettext_lazy("Edit rotation policy {name}"),
    saved_message=gettext_lazy("Rotation policy {name} saved."),
    kind="rotation-policy",
    create=rotation_policy_create,
    update=rotation_policy_update,
    object_kwarg="policy",
    list_route="console_privileged:policies",
    go_to_list=True,
)


class PolicyDelete(ObjectDeleteView):
    model, noun = RotationPolicy, "rotation policy"
    delete_service = staticmethod(rotation_policy_delete)
    object_kwarg = "policy"
    list_route = "console_privileged:policies"
    list_title = cast(str, gettext_lazy("Rotation policies"))
    deleted_message = cast(str, gettext_lazy("Rotation policy {name} deleted."))

    def explain(self, obj: RotationPolicy) -> str:
        return _(
            "Passwords it covers rotate only at the end of an access or a check-out; the audit log keeps it."
        )


# --- console: ITSM instances ----------------------------------------------------------------------


class ItsmList(ObjectListView):
    queryset = ItsmInstance.objects.annotate(n_groups=Count("groups"))
    template_name = "console/privileged/itsm.html"
    search = ("name", "base_url", "url_template")
    filters = {"kind": "kind"}
    orderings = {"name": "name", "kind": "kind"}
    default_order = "name"
    paginate_by = 0
    context_object_name = "instances"

    def extra_context(self) -> dict[str, Any]:
        return {"kinds": ItsmKind.choices}


itsm_edit = ObjectEditView.as_view(
    model=ItsmInstance,
    form_class=ItsmInstanceForm,
    noun="ITSM instance",
    new_title=gettext_lazy("New ITSM instance"),
    edit_title=gettext_lazy("Edit ITSM instance {name}"),
    saved_message=gettext_lazy("ITSM instance {name} saved."),
    kind="itsm-instance",
    form_object_kwarg="instance",
    create=itsm_instance_create,
    update=itsm_instance_update,
    object_kwarg="instance",
    list_route="console_privileged:itsm",
    go_to_list=True,
)


class ItsmDelete(ObjectDeleteView):
    model, noun = ItsmInstance, cast(str, gettext_lazy("ITSM instance"))
    delete_service = staticmethod(itsm_instance_delete)
    object_kwarg = "instance"
    list_route = "console_privileged:itsm"
    list_title = cast(str, gettext_lazy("ITSM instances"))
    deleted_message = cast(str, gettext_lazy("ITSM instance {name} deleted."))

    def blockers(self, obj: ItsmInstance) -> list[str]:
        used = list(obj.groups.order_by("code").values_list("code", flat=True)[:5])
        if not used:
            return []
        return [_("access groups check their codes with it: %(codes)s") % {"codes": ", ".join(used)}]

    def explain(self, obj: ItsmInstance) -> str:
        return _(
            "Its password or tokens leave the vault with it. Requests already checked keep what it said; "
            "the audit log keeps its history."
        )


# --- console: the requests report ------------------------------------------------------------------


def _yes(value: bool) -> str:
    return "yes" if value else "no"


class RequestList(ObjectListView):
    queryset = selectors.requests_all()
    template_name = "console/privileged/requests.html"
    search = (
        "requester__username",
        "account__identifier",
        "account__resource__code",
        "governance_code",
        "reason",
    )
    filters = {
        "status": "status",
        "emergency": "emergency",
        "group": "group__code",
        "resource": "account__resource__code",
        "requester": "requester__username",
    }
    orderings = {
        "created": "created_at",
        "start": "window_start",
        "end": "window_end",
        "requester": "requester__username",
    }
    default_order = "-created"
    csv_name = "access-requests"
    csv_columns = (
        ("id", "pk"),
        ("requester", "requester.username"),
        ("credential", lambda r: str(r.account)),
        ("group", lambda r: r.group.code if r.group else r.rule.get("group", "")),
        ("status", lambda r: r.get_status_display()),
        ("emergency", lambda r: _yes(r.emergency)),
        ("window_start", "window_start"),
        ("window_end", "window_end"),
        ("governance_code", "governance_code"),
        ("reason", "reason"),
        ("created_at", "created_at"),
        ("closed_by", lambda r: r.closed_by.username if r.closed_by else ""),
        ("close_reason", "close_reason"),
    )

    def extra_context(self) -> dict[str, Any]:
        return {"statuses": AccessStatus.choices, "groups": AccessGroup.objects.order_by("code")}


class RequestDetail(ObjectView):
    queryset = selectors.requests_all()
    template_name = "console/privileged/request.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        req = self.get_object()
        return self.render({"req": req, "tasks": _tasks_of(req)})


def _tasks_of(req: AccessRequest) -> QuerySet[Task]:
    return (
        Task.objects.filter(subject_kind="access_request", subject_id=req.pk)
        .select_related("queue", "decided_by")
        .prefetch_related("assignees")
        .order_by("level", "pk")
    )


@capability_required("manage_users")
@require_POST
def console_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(AccessRequest, pk=pk)
    try:
        access_request_revoke(
            actor=cast(User, request.user),
            source=Source.CONSOLE,
            request=req,
            reason=request.POST.get("reason", ""),
        )
        messages.success(
            request, _("Access request #%(id)s revoked: the credential was taken back.") % {"id": req.pk}
        )
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("console_privileged:request", pk=pk)


# --- workspace ----------------------------------------------------------------------------------


@workspace_required
def credentials(request: HttpRequest) -> HttpResponse:
    """The credentials my access groups give me, the rule each is under and my live request."""
    user = cast(User, request.user)
    best = selectors.rules_by_credential(user)
    accounts = list(selectors.credentials_of(user))
    live = {
        r.account_id: r
        for r in AccessRequest.objects.filter(requester=user, status__in=selectors.live_statuses())
    }
    rows = [(a, best.get(a.pk), live.get(a.pk)) for a in accounts]
    return render(request, "workspace/privileged/credentials.html", {"rows": rows})


@workspace_required
def request_new(request: HttpRequest, account_pk: int) -> HttpResponse:
    user = cast(User, request.user)
    account = get_object_or_404(selectors.credentials_of(user), pk=account_pk)
    rule = selectors.rule_for(user, account)
    if rule is None:
        raise Http404(_("No access group gives you this credential."))
    form = AccessRequestForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["emergency"] and not data["emergency_confirmed"]:
            form.add_error("emergency_confirmed", "Confirm the emergency: every approver is told at once.")
            status = 400
        else:
            try:
                req = access_request_create(
                    actor=user,
                    source=Source.WORKSPACE,
                    account=account,
                    reason=data["reason"],
                    window_start=data["window_start"],
                    window_end=data["window_end"],
                    governance_code=data["governance_code"],
                    emergency=bool(data["emergency"]),
                )
            except DomainError as error:
                for field, errors in (error.fields or {}).items():
                    form.add_error(field if field in form.fields else None, errors)
                if not error.fields:
                    form.add_error(None, error.message)
                status = 400
            else:
                messages.success(request, _created_message(req))
                return redirect("workspace_privileged:mine")
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "workspace/privileged/request_new.html",
        {"form": form, "account": account, "rule": rule},
        status=status,
    )


def _created_message(req: AccessRequest) -> str:
    if req.emergency:
        return _("Emergency access to %(account)s granted until %(until)s: every approver was told.") % {
            "account": req.account,
            "until": f"{timezone.localtime(req.window_end):%H:%M}",
        }
    if req.status == AccessStatus.APPROVED:
        return _("Access to %(account)s granted for your window.") % {"account": req.account}
    return _("Request #%(id)s sent: the first approvers were told.") % {"id": req.pk}


@workspace_required
def mine(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    rows = list(selectors.requests_of(user)[:200])
    now = timezone.now()
    return render(request, "workspace/privileged/mine.html", {"rows": rows, "now": now})


def _own(request: HttpRequest, pk: int) -> AccessRequest:
    return get_object_or_404(AccessRequest, pk=pk, requester=request.user)


@workspace_required
@require_POST
def reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """The credential's value, shown once on this page (never stored in the page's URL or session)."""
    req = _own(request, pk)
    try:
        value = access_reveal(actor=cast(User, request.user), source=Source.WORKSPACE, request=req)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("workspace_privileged:mine")
    req.refresh_from_db()
    return render(request, "workspace/privileged/reveal.html", {"req": req, "value": value})


@workspace_required
@require_POST
def own_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    req = _own(request, pk)
    user = cast(User, request.user)
    try:
        if action == "cancel":
            access_request_cancel(
                actor=user, source=Source.WORKSPACE, request=req, reason=request.POST.get("reason", "")
            )
            messages.success(request, _("Request #%(id)s canceled.") % {"id": req.pk})
        elif action == "emergency":
            if not request.POST.get("confirmed"):
                messages.error(request, _("Confirm the emergency: every approver is told at once."))
            else:
                access_request_emergency(actor=user, source=Source.WORKSPACE, request=req)
                messages.success(
                    request,
                    _("Emergency access to %(account)s granted: every approver was told.")
                    % {"account": req.account},
                )
        else:
            raise Http404(_("No such action."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("workspace_privileged:mine")


@workspace_required
def approvals(request: HttpRequest) -> HttpResponse:
    """My approvals: requests waiting for me, and those I approve that are running (to revoke)."""
    user = cast(User, request.user)
    open_ids = Task.objects.filter(
        selectors.approver_q(user), kind__in=[TaskKind.ACCESS, TaskKind.ACCESS_REVIEW], status=TaskStatus.OPEN
    ).values("subject_id")
    waiting = selectors.requests_all().filter(pk__in=open_ids).exclude(requester=user)
    mine_too = selectors.approvals_of(user)
    running = mine_too.filter(status=AccessStatus.APPROVED)
    done = mine_too.exclude(status__in=selectors.live_statuses())[:50]
    return render(
        request, "workspace/privileged/approvals.html", {"waiting": waiting, "running": running, "done": done}
    )


def _my_open_task(user: User, req: AccessRequest) -> Task | None:
    tasks = Task.objects.filter(
        subject_kind="access_request", subject_id=req.pk, status=TaskStatus.OPEN
    ).select_related("queue")
    return next((t for t in tasks if may_decide(user, t)), None)


@workspace_required
def approval(request: HttpRequest, pk: int) -> HttpResponse:
    user = cast(User, request.user)
    req = get_object_or_404(selectors.requests_all(), pk=pk)
    task = _my_open_task(user, req)
    if task is None and not is_approver(user, req):
        raise Http404(_("You do not approve this request."))
    form = ApproveForm(initial=_window_initial(req))
    return render(
        request,
        "workspace/privileged/approval.html",
        {
            "req": req,
            "task": task,
            "form": form,
            "tasks": _tasks_of(req),
            "can_revoke": req.status == AccessStatus.APPROVED,
        },
    )


@workspace_required
@require_POST
def approval_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    user = cast(User, request.user)
    req = get_object_or_404(AccessRequest, pk=pk)
    if decision not in (APPROVE, REJECT, "revoke"):
        raise Http404(_("No such decision."))
    try:
        if decision == "revoke":
            access_request_revoke(
                actor=user, source=Source.WORKSPACE, request=req, reason=request.POST.get("comment", "")
            )
            messages.success(
                request, _("Access request #%(id)s revoked: the credential was taken back.") % {"id": req.pk}
            )
            return redirect("workspace_privileged:approvals")
        task = _my_open_task(user, req)
        if task is None:
            messages.error(request, _("Nothing waits for your decision on this request."))
            return redirect("workspace_privileged:approval", pk=pk)
        form = ApproveForm(request.POST)
        shown = _window_initial(req)
        if not form.is_valid():
            messages.error(request, _("Give the window as a date and time."))
            return redirect("workspace_privileged:approval", pk=pk)
        task_decide(
            actor=user,
            source=Source.WORKSPACE,
            task=task,
            decision=decision,
            comment=form.cleaned_data["comment"],
            # only what the approver changed: the page shows the window to the minute
            window_start=_changed(form, "window_start", shown, decision),
            window_end=_changed(form, "window_end", shown, decision),
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("workspace_privileged:approval", pk=pk)
    messages.success(
        request,
        (_("Request #%(id)s approved.") if decision == APPROVE else _("Request #%(id)s disapproved."))
        % {"id": req.pk},
    )
    return redirect("workspace_privileged:approvals")


def _window_initial(req: AccessRequest) -> dict[str, str]:
    return {
        "window_start": timezone.localtime(req.window_start).strftime("%Y-%m-%dT%H:%M"),
        "window_end": timezone.localtime(req.window_end).strftime("%Y-%m-%dT%H:%M"),
    }


def _changed(form: ApproveForm, field: str, shown: dict[str, str], decision: str) -> Any:
    sent = (form.data.get(field) or "").strip()
    if decision != APPROVE or not sent or sent == shown[field]:
        return None
    return form.cleaned_data[field]


def access_task_page(request: HttpRequest, task: Task) -> HttpResponse:
    """An access task's page in My tasks: the request's approval page."""
    if task.subject_id is None:
        raise Http404(_("This task is about no access request."))
    return redirect("workspace_privileged:approval", pk=task.subject_id)


def account_label(account: Account) -> str:
    return f"{account.identifier} on {account.resource.name}"
