"""Console pages of the request policies: approval policies (with their ordered levels) and
validation policies. Reading needs ``view``; every change needs ``manage_config`` and goes
through ``requests_workflow.services.policies``, whose field errors come back on the forms."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_http_methods, require_POST

from blazon.errors import DomainError
from blazon.permissions import can
from directory.models import Source, UserStatus
from directory.views.common import capability_required, report_domain_error
from directory.views.console import render_console
from requests_workflow.models import (
    PENDING_STATUSES,
    ApprovalLevel,
    ApprovalPolicy,
    Request,
    RequesterScope,
    RequestType,
    ValidationPolicy,
)
from requests_workflow.services import policies as svc
from requests_workflow.services.approvals import approval_policy_match
from requests_workflow.services.validation import (
    active_validation_policies,
    rule_text,
    validation_policies_matching,
)
from requests_workflow.views.forms import (
    ApprovalLevelForm,
    ApprovalPolicyForm,
    PolicyPreviewForm,
    ValidationPolicyForm,
)

SOURCE = Source.CONSOLE
TYPE_LABELS = dict(RequestType.choices)


def _types(codes: list[str]) -> list[tuple[str, str]]:
    return [(code, TYPE_LABELS.get(code, code)) for code in codes or []]


def _toggle(request: HttpRequest, service: Any, policy: Any, label: str) -> None:
    active = request.POST.get("active") == "1"
    try:
        service(actor=request.user, source=SOURCE, policy=policy, active=active)
    except DomainError as error:
        report_domain_error(request, error)
    else:
        state = "activated" if active else "deactivated"
        messages.success(request, f"{label} {policy.name} {state}.")


# --- approval policies --------------------------------------------------------------------------


@capability_required("view")
def policies(request: HttpRequest) -> HttpResponse:
    rows = ApprovalPolicy.objects.select_related("resource", "entitlement", "role").annotate(
        n_levels=Count("levels")
    )
    return render_console(request, "console/requests/policies.html", {"policies": rows})


@capability_required("view")
def policy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(
        ApprovalPolicy.objects.select_related("resource", "entitlement__resource", "role"), pk=pk
    )
    levels = list(policy.levels.select_related("queue").prefetch_related("users").order_by("position"))
    context = {
        "policy": policy,
        "levels": levels,
        "last_position": levels[-1].position if levels else 0,
        "types": _types(policy.request_types),
        "conditions": sorted((policy.beneficiary_conditions or {}).items()),
        "recent": policy.requests.select_related("beneficiary").order_by("-id")[:20],
        "in_flight": policy.requests.filter(status__in=PENDING_STATUSES).count(),
    }
    return render_console(request, "console/requests/policy_detail.html", context)


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def policy_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    policy = get_object_or_404(ApprovalPolicy, pk=pk) if pk else None
    form = ApprovalPolicyForm(request.POST or None, policy=policy)
    if request.method == "POST" and form.is_valid():
        try:
            if policy is None:
                policy = svc.approval_policy_create(actor=request.user, source=SOURCE, **form.cleaned_data)
            else:
                policy = svc.approval_policy_update(
                    actor=request.user, source=SOURCE, policy=policy, data=form.cleaned_data
                )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Approval policy {policy.name} saved.")
            return redirect("console_requests:policy_detail", pk=policy.pk)
    title = f"Edit approval policy {policy.name}" if policy else "New approval policy"
    cancel = f"/console/requests/policies/{policy.pk}/" if policy else "/console/requests/policies/"
    return render_console(
        request,
        "console/form.html",
        {"form": form, "title": title, "cancel_url": cancel, "kind": "approval-policy"},
    )


@capability_required("manage_config")
@require_POST
def policy_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(ApprovalPolicy, pk=pk)
    _toggle(request, svc.approval_policy_set_active, policy, "Approval policy")
    return redirect("console_requests:policy_detail", pk=policy.pk)


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(ApprovalPolicy, pk=pk)
    in_flight = policy.requests.filter(status__in=PENDING_STATUSES).count()
    if request.method == "POST":
        try:
            svc.approval_policy_delete(actor=request.user, source=SOURCE, policy=policy)
        except DomainError as error:
            report_domain_error(request, error)
            return redirect("console_requests:policy_detail", pk=policy.pk)
        messages.success(request, f"Approval policy {policy.name} deleted.")
        return redirect("console_requests:policies")
    return render_console(
        request,
        "console/requests/policy_delete.html",
        {
            "policy": policy,
            "kind": "approval policy",
            "in_flight": in_flight,
            "used": policy.requests.count(),
            "back": "console_requests:policy_detail",
            "list": "console_requests:policies",
            "toggle": "console_requests:policy_toggle",
        },
    )


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def level_edit(request: HttpRequest, pk: int, level_pk: int | None = None) -> HttpResponse:
    policy = get_object_or_404(ApprovalPolicy, pk=pk)
    level = get_object_or_404(ApprovalLevel, pk=level_pk, policy=policy) if level_pk else None
    form = ApprovalLevelForm(request.POST or None, level=level)
    if request.method == "POST" and form.is_valid():
        try:
            if level is None:
                level = svc.approval_level_add(
                    actor=request.user, source=SOURCE, policy=policy, **form.cleaned_data
                )
            else:
                level = svc.approval_level_update(
                    actor=request.user, source=SOURCE, level=level, data=form.cleaned_data
                )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Level {level.position} of {policy.name} saved.")
            return redirect("console_requests:policy_detail", pk=policy.pk)
    title = f"{policy.name}: level {level.position}" if level else f"{policy.name}: new level"
    return render_console(
        request,
        "console/form.html",
        {
            "form": form,
            "title": title,
            "cancel_url": f"/console/requests/policies/{policy.pk}/",
            "kind": "approval-level",
        },
    )


@capability_required("manage_config")
@require_POST
def level_action(request: HttpRequest, pk: int, level_pk: int, action: str) -> HttpResponse:
    level = get_object_or_404(ApprovalLevel.objects.select_related("policy"), pk=level_pk, policy_id=pk)
    try:
        if action == "delete":
            svc.approval_level_remove(actor=request.user, source=SOURCE, level=level)
            messages.success(request, f"Level {level.position} removed; the following levels moved up.")
        elif action in ("up", "down"):
            svc.approval_level_move(actor=request.user, source=SOURCE, level=level, direction=action)
            messages.success(request, f"Level {level.position} moved {action}.")
        else:
            raise Http404("Unknown action.")
    except DomainError as error:
        report_domain_error(request, error)
    return redirect("console_requests:policy_detail", pk=pk)


# --- validation policies ------------------------------------------------------------------------


@capability_required("view")
def validation_policies(request: HttpRequest) -> HttpResponse:
    rows = ValidationPolicy.objects.select_related("resource", "entitlement", "role").order_by(
        "priority", "id"
    )
    return render_console(
        request,
        "console/requests/validation_policies.html",
        {"policies": rows, "can_edit": can(request.user, "manage_config")},
    )


@capability_required("view")
def validation_policy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(
        ValidationPolicy.objects.select_related("resource", "entitlement__resource", "role"), pk=pk
    )
    status_labels = dict(UserStatus.choices)
    context = {
        "policy": policy,
        "types": _types(policy.request_types),
        "rules": [rule_text(r) for r in policy.beneficiary_rules or []],
        "statuses": [status_labels.get(s, s) for s in policy.beneficiary_statuses or []],
        "requester": RequesterScope(policy.requester_scope).label if policy.requester_scope else "",
    }
    return render_console(request, "console/requests/validation_policy_detail.html", context)


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def validation_policy_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    policy = get_object_or_404(ValidationPolicy, pk=pk) if pk else None
    form = ValidationPolicyForm(request.POST or None, policy=policy)
    if request.method == "POST" and form.is_valid():
        try:
            if policy is None:
                policy = svc.validation_policy_create(actor=request.user, source=SOURCE, **form.cleaned_data)
            else:
                policy = svc.validation_policy_update(
                    actor=request.user, source=SOURCE, policy=policy, data=form.cleaned_data
                )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Validation policy {policy.name} saved.")
            return redirect("console_requests:validation_policy_detail", pk=policy.pk)
    title = f"Edit validation policy {policy.name}" if policy else "New validation policy"
    base = "/console/requests/validation-policies/"
    return render_console(
        request,
        "console/form.html",
        {
            "form": form,
            "title": title,
            "cancel_url": f"{base}{policy.pk}/" if policy else base,
            "kind": "validation-policy",
        },
    )


@capability_required("manage_config")
@require_POST
def validation_policy_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(ValidationPolicy, pk=pk)
    _toggle(request, svc.validation_policy_set_active, policy, "Validation policy")
    return redirect("console_requests:validation_policy_detail", pk=policy.pk)


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def validation_policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(ValidationPolicy, pk=pk)
    if request.method == "POST":
        try:
            svc.validation_policy_delete(actor=request.user, source=SOURCE, policy=policy)
        except DomainError as error:
            report_domain_error(request, error)
            return redirect("console_requests:validation_policy_detail", pk=policy.pk)
        messages.success(request, f"Validation policy {policy.name} deleted.")
        return redirect("console_requests:validation_policies")
    return render_console(
        request,
        "console/requests/policy_delete.html",
        {
            "policy": policy,
            "kind": "validation policy",
            "in_flight": 0,
            "used": 0,
            "back": "console_requests:validation_policy_detail",
            "list": "console_requests:validation_policies",
            "toggle": "console_requests:validation_policy_toggle",
        },
    )


# --- preview ------------------------------------------------------------------------------------


@capability_required("view")
def policy_preview(request: HttpRequest) -> HttpResponse:
    """Which approval policy and which validation policies a request would meet; reads only."""
    form = PolicyPreviewForm(request.GET or None)
    result = None
    if request.GET and form.is_valid():
        data = form.cleaned_data
        refs = {n: data.get(n) for n in ("resource", "entitlement", "role")}
        if refs["entitlement"] is not None and refs["resource"] is None:
            refs["resource"] = refs["entitlement"].resource
        sketch = Request(type=data["request_type"], beneficiary=data.get("beneficiary"), **refs)
        approval = approval_policy_match(sketch)
        result = {
            "approval": approval,
            "levels": list(
                approval.levels.select_related("queue").prefetch_related("users").order_by("position")
            )
            if approval
            else [],
            "validation": validation_policies_matching(
                active_validation_policies(), data["request_type"], refs
            ),
        }
    return render_console(request, "console/requests/policy_preview.html", {"form": form, "result": result})
