"""Console pages of the request policies: approval policies (with their ordered levels) and
validation policies. Reading needs ``view``; every change needs ``manage_config`` and goes
through ``requests_workflow.services.policies``, whose field errors come back on the forms."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from blazon.console import (
    ObjectActionView,
    ObjectDeleteView,
    ObjectEditView,
    ObjectListView,
    by_segment,
    capability_required,
    render_console,
)
from blazon.permissions import can
from directory.models import Source, UserStatus
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


class PolicyToggle(ObjectActionView):
    """Activate (``active=1``) or deactivate an approval or a validation policy."""

    model, noun, object_kwarg = ApprovalPolicy, _("approval policy"), "policy"
    action = staticmethod(svc.approval_policy_set_active)
    detail_route = "console_requests:policy_detail"

    def action_kwargs(self) -> dict[str, Any]:
        return {"active": self.request.POST.get("active") == "1"}

    def done_text(self, policy: Any, result: Any) -> str:
        return self.message(TOGGLED[self.model is ApprovalPolicy, self.action_kwargs()["active"]], policy)


#: What the toggle says: (an approval policy?, activated?) -> message.
TOGGLED = {
    (True, True): _("Approval policy {name} activated."),
    (True, False): _("Approval policy {name} deactivated."),
    (False, True): _("Validation policy {name} activated."),
    (False, False): _("Validation policy {name} deactivated."),
}


# --- approval policies --------------------------------------------------------------------------


policies = ObjectListView.as_view(
    queryset=ApprovalPolicy.objects.select_related("resource", "entitlement", "role").annotate(
        n_levels=Count("levels")
    ),
    template_name="console/requests/policies.html",
    paginate_by=0,
    context_object_name="policies",
)


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


policy_edit = ObjectEditView.as_view(
    model=ApprovalPolicy,
    form_class=ApprovalPolicyForm,
    noun=_("approval policy"),
    new_title=_("New approval policy"),
    edit_title=_("Edit approval policy {name}"),
    saved_message=_("Approval policy {name} saved."),
    object_kwarg="policy",
    create=svc.approval_policy_create,
    update=svc.approval_policy_update,
    detail_route="console_requests:policy_detail",
    list_route="console_requests:policies",
)


policy_toggle = PolicyToggle.as_view()


class PolicyDelete(ObjectDeleteView):
    """Refused while requests in flight were matched by the policy: the page offers to
    deactivate it instead."""

    model, noun, object_kwarg = ApprovalPolicy, _("approval policy"), "policy"
    deleted_message, list_title = _("Approval policy {name} deleted."), _("Approval policies")
    delete_service = staticmethod(svc.approval_policy_delete)
    detail_route, list_route = "console_requests:policy_detail", "console_requests:policies"
    template_name, refused_to_detail = "console/requests/policy_delete.html", True
    toggle_route = "console_requests:policy_toggle"

    def extra_context(self, policy: Any) -> dict[str, Any]:
        in_flight = (
            policy.requests.filter(status__in=PENDING_STATUSES).count() if self.model is ApprovalPolicy else 0
        )
        used = policy.requests.count() if self.model is ApprovalPolicy else 0
        return {"policy": policy, "in_flight": in_flight, "used": used, "toggle": self.toggle_route}


policy_delete = PolicyDelete.as_view()


class LevelEdit(ObjectEditView):
    """A level of an approval policy (``pk`` is the policy's, ``level_pk`` the level's)."""

    model, form_class, noun = ApprovalLevel, ApprovalLevelForm, _("approval level")
    object_kwarg = "level"
    detail_route = "console_requests:policy_detail"

    def get_object(self) -> ApprovalLevel | None:
        self.policy = get_object_or_404(ApprovalPolicy, pk=self.kwargs["pk"])
        level_pk = self.kwargs.get("level_pk")
        return get_object_or_404(ApprovalLevel, pk=level_pk, policy=self.policy) if level_pk else None

    def save(self, form: ApprovalLevelForm, level: ApprovalLevel | None) -> ApprovalLevel:
        actor, data = self.request.user, form.cleaned_data
        if level is None:
            return svc.approval_level_add(actor=actor, source=SOURCE, policy=self.policy, **data)
        return svc.approval_level_update(actor=actor, source=SOURCE, level=level, data=data)

    def detail_url(self, obj: Any) -> str:
        return reverse("console_requests:policy_detail", args=[self.policy.pk])

    def list_url(self) -> str:  # the levels are listed on the policy's page
        return self.detail_url(None)

    def title(self, level: ApprovalLevel | None) -> str:
        if level:
            return gettext("%(policy)s: level %(position)s") % {
                "policy": self.policy.name,
                "position": level.position,
            }
        return gettext("%(policy)s: new level") % {"policy": self.policy.name}

    def saved_text(self, level: ApprovalLevel) -> str:
        return gettext("Level %(position)s of %(policy)s saved.") % {
            "position": level.position,
            "policy": self.policy.name,
        }


level_edit = LevelEdit.as_view()


class LevelAction(ObjectActionView):
    """Remove a level or move it up or down (the buttons are on the policy's page)."""

    object_kwarg = "level"

    def get_object(self) -> ApprovalLevel:
        levels = ApprovalLevel.objects.select_related("policy")
        return get_object_or_404(levels, pk=self.kwargs["level_pk"], policy_id=self.kwargs["pk"])

    def detail_url(self, level: ApprovalLevel) -> str:
        return reverse("console_requests:policy_detail", args=[level.policy_id])

    def name_of(self, level: ApprovalLevel) -> str:
        return str(level.position)


level_action = by_segment(
    "action",
    delete=LevelAction.as_view(
        action=svc.approval_level_remove,
        done_message=_("Level {name} removed; the following levels moved up."),
    ),
    up=LevelAction.as_view(
        action=partial(svc.approval_level_move, direction="up"), done_message=_("Level {name} moved up.")
    ),
    down=LevelAction.as_view(
        action=partial(svc.approval_level_move, direction="down"), done_message=_("Level {name} moved down.")
    ),
)


# --- validation policies ------------------------------------------------------------------------


class ValidationPolicies(ObjectListView):
    template_name, paginate_by, context_object_name = (
        "console/requests/validation_policies.html",
        0,
        "policies",
    )
    queryset = ValidationPolicy.objects.select_related("resource", "entitlement", "role").order_by(
        "priority", "id"
    )

    def extra_context(self) -> dict[str, Any]:
        return {"can_edit": can(self.request.user, "manage_config")}


validation_policies = ValidationPolicies.as_view()


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


validation_policy_edit = ObjectEditView.as_view(
    model=ValidationPolicy,
    form_class=ValidationPolicyForm,
    noun=_("validation policy"),
    new_title=_("New validation policy"),
    edit_title=_("Edit validation policy {name}"),
    saved_message=_("Validation policy {name} saved."),
    object_kwarg="policy",
    create=svc.validation_policy_create,
    update=svc.validation_policy_update,
    detail_route="console_requests:validation_policy_detail",
    list_route="console_requests:validation_policies",
)


validation_policy_toggle = PolicyToggle.as_view(
    model=ValidationPolicy,
    noun=_("validation policy"),
    action=svc.validation_policy_set_active,
    detail_route="console_requests:validation_policy_detail",
)


validation_policy_delete = PolicyDelete.as_view(
    model=ValidationPolicy,
    noun=_("validation policy"),
    deleted_message=_("Validation policy {name} deleted."),
    list_title=_("Validation policies"),
    delete_service=svc.validation_policy_delete,
    detail_route="console_requests:validation_policy_detail",
    list_route="console_requests:validation_policies",
    toggle_route="console_requests:validation_policy_toggle",
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
