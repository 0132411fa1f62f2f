"""Console and workspace pages of segregation of duties.

Console (read: any console role; change: administrators): the rules (list, detail, edit, delete,
CSV export and import), the conflict matrix, violations (list, CSV, scan now) and exceptions
(list, revoke). Workspace: the page of a detected violation's task, decided by the rule's owner.
A request's SoD task is decided on the request task page (``requests_workflow``), which shows
the conflict with ``{% sod_conflicts task %}``."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time
from typing import Any, cast

from django.contrib import messages
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from blazon.console.access import capability_required, render_console, workspace_required
from blazon.console.lists import csv_response
from blazon.console.views import (
    ObjectActionView,
    ObjectDeleteView,
    ObjectEditView,
    ObjectListView,
    ObjectView,
)
from blazon.errors import DomainError, ValidationFailed
from blazon.permissions import can
from directory.models import RoleChange, Source, User
from directory.services.access import role_change_preview
from requests_workflow.services.approvals import task_comment_add
from requests_workflow.views.workspace import approval_decision_details, approval_task_page
from sod import selectors
from sod.forms import AssignmentPolicyForm, SoDImportForm, SoDRuleForm
from sod.models import (
    AssignmentPolicy,
    RoleChangeStep,
    Severity,
    SoDException,
    SoDRule,
    SoDRuleItem,
    SoDViolation,
    ViolationStatus,
)
from sod.services.assignment import (
    assignment_policy_create,
    assignment_policy_delete,
    assignment_policy_update,
    policy_preview,
)
from sod.services.exceptions import sod_exception_revoke
from sod.services.role_changes import approvals
from sod.services.rules import (
    CSV_COLUMNS,
    rules_csv_rows,
    sod_rule_create,
    sod_rule_delete,
    sod_rule_update,
    sod_rules_import,
)
from sod.services.scan import sod_scan
from worklist.models import Task, TaskKind, TaskStatus
from worklist.registry import APPROVE, REJECT
from worklist.selectors import open_tasks_for
from worklist.services import task_decide


def parse_expiry(value: str) -> datetime | None:
    """An exception's expiry from a form's date (YYYY-MM-DD): the end of that day, local time."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            _("Give the exception's expiry as YYYY-MM-DD."), fields={"expires_at": [_("YYYY-MM-DD")]}
        ) from None
    return timezone.make_aware(datetime.combine(day, time(23, 59)), timezone.get_current_timezone())


# --- rules -----------------------------------------------------------------------------------


class RuleList(ObjectListView):
    queryset = selectors.rules_for(None)
    template_name = "console/sod/rules.html"
    search = ("code", "name", "description")
    filters = {"severity": "severity", "active": "active"}
    orderings = {"code": "code", "name": "name", "severity": "severity", "open": "n_open"}
    default_order = "code"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.GET.get("export") == "csv":
            rows = rules_csv_rows(selectors.rules_for(request.user))
            columns = [(name, lambda row, i=i: row[i]) for i, name in enumerate(CSV_COLUMNS)]
            return csv_response(rows, columns, "sod-rules")
        return super().get(request, *args, **kwargs)

    def extra_context(self) -> dict[str, Any]:
        return {"severities": Severity.choices}


class RuleDetail(ObjectView):
    queryset = selectors.rules_for(None)
    template_name = "console/sod/rule_detail.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        rule = self.get_object()
        sides: dict[int, list[SoDRuleItem]] = defaultdict(list)
        for item in rule.items.all():
            sides[item.side].append(item)
        context = {
            "rule": rule,
            "sides": [("ABCDEF"[k - 1], sides[k]) for k in sorted(sides)],
            "violations": selectors.violations_for(request.user)
            .filter(rule=rule)
            .exclude(status=ViolationStatus.RESOLVED)[:50],
            "exceptions": selectors.exceptions_for(request.user).filter(rule=rule)[:50],
        }
        return self.render(context)


rule_edit = ObjectEditView.as_view(
    model=SoDRule,
    form_class=SoDRuleForm,
    noun=gettext_lazy("SoD rule"),
    new_title=gettext_lazy("New SoD rule"),
    edit_title=gettext_lazy("Edit SoD rule {name}"),
    saved_message=gettext_lazy("SoD rule {name} saved."),
    kind="sod-rule",
    create=sod_rule_create,
    update=sod_rule_update,
    object_kwarg="rule",
    detail_route="console_sod:rule",
    list_route="console_sod:rules",
)


class RuleDelete(ObjectDeleteView):
    model, noun = SoDRule, gettext_lazy("SoD rule")
    delete_service = staticmethod(sod_rule_delete)
    object_kwarg = "rule"
    detail_route, list_route = "console_sod:rule", "console_sod:rules"
    list_title = cast(str, gettext_lazy("SoD rules"))
    deleted_message = cast(str, gettext_lazy("SoD rule {name} deleted."))

    def explain(self, obj: SoDRule) -> str:
        return _(
            "Requests are no longer checked against this rule and the scan no longer reports it; its "
            "exceptions and violations go with it and their open tasks are canceled. The audit log keeps them."
        )


@capability_required("manage_config")
def rules_import(request: HttpRequest) -> HttpResponse:
    form = SoDImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            text = form.cleaned_data["file"].read().decode("utf-8-sig")
            result = sod_rules_import(actor=request.user, source=Source.CONSOLE, text=text)
        except UnicodeDecodeError:
            messages.error(request, _("The file is not UTF-8 text."))
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _("%(created)s rule(s) created, %(updated)s updated.")
                % {"created": result.created, "updated": result.updated},
            )
            return redirect("console_sod:rules")
    return render_console(request, "console/sod/import.html", {"form": form, "columns": CSV_COLUMNS})


@capability_required("view")
def matrix(request: HttpRequest) -> HttpResponse:
    """Items x items: a cell names the active rules that put the two items in conflict."""
    items = list(
        SoDRuleItem.objects.filter(rule__active=True).select_related("rule").order_by("kind", "label")
    )
    keys: dict[tuple[str, str], str] = {}
    for item in items:
        keys.setdefault((item.kind, item.ref), str(item))
    axis = sorted(keys, key=lambda k: keys[k])
    cells: dict[tuple[tuple[str, str], tuple[str, str]], set[str]] = defaultdict(set)
    by_rule: dict[int, list[SoDRuleItem]] = defaultdict(list)
    for item in items:
        by_rule[item.rule_id].append(item)
    for rule_items in by_rule.values():
        for a in rule_items:
            for b in rule_items:
                if a.side != b.side:
                    cells[((a.kind, a.ref), (b.kind, b.ref))].add(a.rule.code)
    rows = [(keys[r], [", ".join(sorted(cells.get((r, c), ()))) for c in axis]) for r in axis]
    return render_console(
        request, "console/sod/matrix.html", {"columns": [keys[c] for c in axis], "rows": rows}
    )


# --- violations and exceptions ----------------------------------------------------------------


class ViolationList(ObjectListView):
    queryset = selectors.violations_for(None)
    template_name = "console/sod/violations.html"
    search = ("user__username", "rule__code", "rule__name")
    filters = {"status": "status", "rule": "rule__code", "severity": "rule__severity"}
    orderings = {"first": "first_seen_at", "last": "last_seen_at", "user": "user__username"}
    default_order = "-last"
    csv_name = "sod-violations"
    csv_columns = (
        ("rule", "rule.code"),
        ("user", "user.username"),
        ("status", lambda v: v.get_status_display()),
        ("items", lambda v: "; ".join(_item_text(i) for i in v.items)),
        ("exception_until", lambda v: v.exception.expires_at.isoformat() if v.exception else ""),
        ("first_seen", "first_seen_at"),
        ("last_seen", "last_seen_at"),
    )

    def get_queryset(self) -> QuerySet[SoDViolation]:
        # tasks nobody was found for (a rule without owner): console operators decide them
        qs = super().get_queryset().annotate(n_deciders=Count("task__assignees"))
        return qs if self.request.GET.get("status") else qs.exclude(status=ViolationStatus.RESOLVED)

    def extra_context(self) -> dict[str, Any]:
        return {"statuses": ViolationStatus.choices}


def _item_text(item: dict[str, Any]) -> str:
    ways = ([_("directly")] if item.get("direct") else []) + [
        _("via role %(role)s") % {"role": r} for r in item.get("via_roles", [])
    ]
    return f"{item.get('label')} ({', '.join(ways)})"


@capability_required("manage_config")
@require_POST
def scan_now(request: HttpRequest) -> HttpResponse:
    result = sod_scan(actor=request.user, source=Source.CONSOLE)
    messages.success(
        request,
        _(
            "Scan done: %(found)s violation(s) found, %(new)s new, %(reopened)s reopened, "
            "%(resolved)s resolved, %(tasks_opened)s task(s) opened."
        )
        % {
            "found": result.found,
            "new": result.new,
            "reopened": result.reopened,
            "resolved": result.resolved,
            "tasks_opened": result.tasks_opened,
        },
    )
    return redirect("console_sod:violations")


class ExceptionList(ObjectListView):
    queryset = selectors.exceptions_for(None)
    template_name = "console/sod/exceptions.html"
    search = ("user__username", "rule__code", "reason")
    orderings = {"expires": "expires_at", "created": "created_at"}
    default_order = "-created"
    csv_name = "sod-exceptions"
    csv_columns = (
        ("rule", "rule.code"),
        ("user", "user.username"),
        ("reason", "reason"),
        ("expires_at", "expires_at"),
        ("state", "state"),
        ("granted_by", lambda e: e.granted_by.username if e.granted_by else ""),
    )


exception_revoke = ObjectActionView.as_view(
    model=SoDException,
    action=sod_exception_revoke,
    object_kwarg="exception",
    post_fields=("reason",),
    list_route="console_sod:exceptions",
    done_message=gettext_lazy("Exception {name} revoked: the next scan reports the violation again."),
    name_of=lambda exc: f"#{exc.pk}",
)


# --- workspace: the worklist's hooks for SoD tasks (``SodConfig.ready``) --------------------------


def sod_task_page(request: HttpRequest, task: Task) -> HttpResponse:
    """An SoD task's page in My tasks: a request's conflict is decided on the request's approval
    page (it shows the conflict and asks for the exception's expiry); a violation on its own."""
    if task.request_id is None:
        return redirect("workspace_sod:violation_task", pk=task.pk)
    return approval_task_page(request, task)


def sod_task_decision_details(request: HttpRequest, task: Task) -> dict[str, Any]:
    """The approve form's fields of an SoD task: the exception's expiry, and for a request the
    access period the approver may set."""
    details = approval_decision_details(request, task) if task.request_id is not None else {}
    details["exception_expires_at"] = parse_expiry(request.POST.get("expires", ""))
    return details


def sod_task_comment(*, actor: Any, source: str, task: Task, text: str, on_behalf_of: Any = None) -> None:
    """A comment on a request's SoD task goes to the request's history, like an approval's."""
    if task.request_id is None:
        raise ValidationFailed(_("Comments go on requests; decide the violation instead."), fields={})
    task_comment_add(actor=actor, source=source, task=task, text=text, on_behalf_of=on_behalf_of)


# --- workspace: a detected violation's task --------------------------------------------------------


def _violation_task(request: HttpRequest, pk: int) -> tuple[Any, SoDViolation]:
    """The open task of a detected violation ``request.user`` may decide: theirs (or of whom they
    stand in for), or — for console operators — one nobody was found for (a rule without owner)."""
    user = cast(User, request.user)
    tasks = Task.objects.filter(kind=TaskKind.SOD, request__isnull=True, status=TaskStatus.OPEN)
    task = tasks.filter(pk=pk, pk__in=open_tasks_for(user).values("pk")).first()
    if task is None and can(user, "manage_users"):
        task = tasks.filter(pk=pk, queue__isnull=True, assignees__isnull=True).first()
    if task is None:
        raise Http404(_("No such task for you."))
    violation = get_object_or_404(selectors.violations_for(request.user), task_id=task.pk)
    return task, violation


@workspace_required
def violation_task(request: HttpRequest, pk: int) -> HttpResponse:
    task, violation = _violation_task(request, pk)
    items = [(i, _item_text(i)) for i in violation.items]
    return render(
        request,
        "workspace/sod/violation_task.html",
        {"task": task, "violation": violation, "rule": violation.rule, "items": items},
    )


@workspace_required
@require_POST
def violation_task_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    task, violation = _violation_task(request, pk)
    if decision not in (APPROVE, REJECT):
        return redirect("workspace_sod:violation_task", pk=task.pk)
    try:
        task_decide(
            actor=cast(User, request.user),
            source=Source.WORKSPACE,
            task=task,
            decision=decision,
            comment=request.POST.get("comment", ""),
            exception_expires_at=parse_expiry(request.POST.get("expires", "")),
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("workspace_sod:violation_task", pk=task.pk)
    done = (
        _("SoD violation of %(user)s accepted with an exception.")
        if decision == APPROVE
        else _("SoD violation of %(user)s refused: one of the accesses must go.")
    )
    messages.success(request, done % {"user": violation.user})
    return redirect("workspace_requests:tasks")


# --- assignment (birthright) policies ---------------------------------------------------------


class PolicyList(ObjectListView):
    queryset = selectors.assignment_policies_for(None)
    template_name = "console/sod/policies.html"
    search = ("code", "name", "description", "department", "job_title")
    filters = {"active": "active"}
    orderings = {"code": "code", "name": "name", "role": "role__name"}
    default_order = "code"


class PolicyDetail(ObjectView):
    """A policy, its conditions and what re-evaluating it now would change (the preview)."""

    queryset = selectors.assignment_policies_for(None)
    template_name = "console/sod/policy_detail.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        policy = self.get_object()
        return self.render({"policy": policy, "preview": policy_preview(policy)})


policy_edit = ObjectEditView.as_view(
    model=AssignmentPolicy,
    form_class=AssignmentPolicyForm,
    noun=gettext_lazy("assignment policy"),
    new_title=gettext_lazy("New assignment policy"),
    edit_title=gettext_lazy("Edit assignment policy {name}"),
    saved_message=gettext_lazy("Assignment policy {name} saved."),
    kind="assignment-policy",
    create=assignment_policy_create,
    update=assignment_policy_update,
    object_kwarg="policy",
    detail_route="console_sod:policy",
    list_route="console_sod:policies",
)


class PolicyDelete(ObjectDeleteView):
    model, noun = AssignmentPolicy, gettext_lazy("assignment policy")
    delete_service = staticmethod(assignment_policy_delete)
    object_kwarg = "policy"
    detail_route, list_route = "console_sod:policy", "console_sod:policies"
    list_title = cast(str, gettext_lazy("Assignment policies"))
    deleted_message = cast(str, gettext_lazy("Assignment policy {name} deleted."))

    def explain(self, obj: AssignmentPolicy) -> str:
        lose = policy_preview(obj, deleting=True).lose
        return _(
            "%(lose)s user(s) whom no other policy of %(role)s selects lose the role now "
            "(manual memberships are kept). The audit log keeps the policy."
        ) % {"lose": lose, "role": obj.role.name}


# --- role-change approval tasks (My tasks) ----------------------------------------------------


#: The role change preview's counts as a person reads them (another key: its words, capitalized).
PREVIEW_LABELS = {
    "members": gettext_lazy("Members"),
    "adds_resource": gettext_lazy("Adds resource"),
    "accounts_to_create": gettext_lazy("Accounts to create"),
    "accounts_to_reactivate": gettext_lazy("Accounts to reactivate"),
    "accounts_to_adopt": gettext_lazy("Accounts to adopt"),
    "memberships_to_create": gettext_lazy("Memberships to create"),
    "memberships_to_adopt": gettext_lazy("Memberships to adopt"),
    "entitlements_removed_with_resource": gettext_lazy("Entitlements removed with resource"),
    "granted_by_role": gettext_lazy("Granted by role"),
    "kept_by_other_roles": gettext_lazy("Kept by other roles"),
    "kept_manually": gettext_lazy("Kept manually"),
    "keep_as_manual": gettext_lazy("Keep as manual"),
    "to_revoke": gettext_lazy("To revoke"),
}


def _preview_label(key: str) -> str:
    label = PREVIEW_LABELS.get(key)
    return str(label) if label is not None else key.replace("_", " ").capitalize()


def role_change_task_page(request: HttpRequest, task: Task) -> HttpResponse:
    """A role change's approval task in My tasks (the worklist checked the user may see it): what
    changes, what it does to the members, the steps so far and what this step found, then the
    decision forms (posted to the worklist's ``task_decide``)."""
    step = RoleChangeStep.objects.filter(task_id=task.pk).select_related("role_change").first()
    if step is None:
        raise Http404(_("This task belongs to no role change."))
    change = RoleChange.objects.select_related(
        "role", "resource", "entitlement__resource", "requested_by"
    ).get(pk=step.role_change_id)
    try:
        preview: dict[str, int] = role_change_preview(
            role=change.role, action=change.action, resource=change.resource, entitlement=change.entitlement
        )
    except DomainError:
        preview = {}
    return render(
        request,
        "workspace/sod/role_change_task.html",
        {
            "task": task,
            "change": change,
            "step": step,
            "steps": approvals.steps([change.pk]).get(change.pk, []),
            "preview": [(_preview_label(k), v) for k, v in preview.items()],
        },
    )
