"""Console (``/console/certification/``) and workspace (``/workspace/certification/``) pages.

Console (read: any console role; change: administrators): policies (list, edit, delete, start a
campaign now), campaigns (list, detail with progress per reviewer, start from a selection,
cancel, finish early, report CSV). Workspace: the reviewer's page — every item they review with
its context, filters, sort, paging, bulk keep/revoke with a comment."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from blazon.console.access import capability_required, render_console, report_domain_error, workspace_required
from blazon.console.lists import csv_response
from blazon.console.views import (
    ObjectActionView,
    ObjectDeleteView,
    ObjectEditView,
    ObjectListView,
    ObjectView,
)
from blazon.errors import DomainError, ValidationFailed
from certification import selectors
from certification.forms import CampaignForm, CertificationPolicyForm, MicroCertificationForm
from certification.models import (
    CampaignStatus,
    CertificationCampaign,
    CertificationItem,
    CertificationPolicy,
    Decision,
    ObjectKind,
)
from certification.report import REPORT_COLUMNS, report_items
from certification.services.campaigns import (
    campaign_cancel,
    campaign_finish,
    campaign_start,
    eligible_count,
    policy_scope,
)
from certification.services.decisions import items_decide, outcomes_refresh
from certification.services.micro import micro_certification_start
from certification.services.policies import (
    certification_policy_create,
    certification_policy_delete,
    certification_policy_update,
    monitorable,
)
from directory.models import Source, User
from worklist.models import Task

PAGE = 50

# --- policies ----------------------------------------------------------------------------------


class PolicyList(ObjectListView):
    queryset = selectors.policies_for(None)
    template_name = "console/certification/policies.html"
    search = ("code", "name", "description")
    filters = {"active": "active"}
    orderings = {"code": "code", "name": "name", "next": "next_run_at"}
    default_order = "code"
    paginate_by = 0
    context_object_name = "policies"


class PolicyDetail(ObjectView):
    queryset = selectors.policies_for(None)
    template_name = "console/certification/policy_detail.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        policy = self.get_object()
        return self.render(
            {
                "policy": policy,
                "watched": [monitorable().get(n, n).lower() for n in policy.monitored_attributes or []],
                "eligible": eligible_count(policy_scope(policy)),
                "campaigns": selectors.campaigns_for(request.user).filter(policy=policy)[:20],
            }
        )


policy_edit = ObjectEditView.as_view(
    model=CertificationPolicy,
    form_class=CertificationPolicyForm,
    noun=gettext_lazy("certification policy"),
    new_title=gettext_lazy("New certification policy"),
    edit_title=gettext_lazy("Edit certification policy {name}"),
    saved_message=gettext_lazy("Certification policy {name} saved."),
    kind="certification-policy",
    create=certification_policy_create,
    update=certification_policy_update,
    object_kwarg="policy",
    detail_route="console_certification:policy",
    list_route="console_certification:policies",
)


class PolicyDelete(ObjectDeleteView):
    model, noun = CertificationPolicy, gettext_lazy("certification policy")
    delete_service = staticmethod(certification_policy_delete)
    object_kwarg = "policy"
    detail_route, list_route = "console_certification:policy", "console_certification:policies"
    list_title = cast(str, gettext_lazy("Certification policies"))
    deleted_message = cast(str, gettext_lazy("Certification policy {name} deleted."))

    def explain(self, obj: CertificationPolicy) -> str:
        return _("No more campaigns start from it; its finished campaigns and their reports stay.")


class PolicyStart(ObjectActionView):
    model = CertificationPolicy
    action = staticmethod(campaign_start)
    object_kwarg = "policy"
    detail_route = "console_certification:policy"

    def done_text(self, obj: Any, result: Any) -> str:
        return _("Campaign %(name)s started: %(count)s item(s) to review.") % {
            "name": result.name,
            "count": result.item_count,
        }


# --- campaigns ---------------------------------------------------------------------------------


class CampaignList(ObjectListView):
    queryset = selectors.campaigns_for(None)
    template_name = "console/certification/campaigns.html"
    search = ("name", "policy__name")
    filters = {"status": "status", "policy": "policy__code"}
    orderings = {"name": "name", "started": "started_at", "ends": "ends_at"}
    default_order = "-started"

    def extra_context(self) -> dict[str, Any]:
        return {"statuses": CampaignStatus.choices}


@capability_required("view")
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(selectors.campaigns_for(request.user), pk=pk)
    outcomes_refresh(CertificationItem.objects.filter(campaign=campaign))
    items = selectors.items_for(request.user).filter(campaign=campaign)
    decision = request.GET.get("decision", "")
    if decision in Decision.values:
        items = items.filter(decision=decision)
    page = Paginator(items.order_by("id"), PAGE).get_page(request.GET.get("page"))
    return render_console(
        request,
        "console/certification/campaign_detail.html",
        {
            "campaign": campaign,
            "progress": selectors.campaign_progress(campaign),
            "page_obj": page,
            "object_list": page.object_list,
            "decision": decision,
            "decisions": Decision.choices,
            "percent": round(100 * cast(Any, campaign).n_decided / campaign.item_count)
            if campaign.item_count
            else 0,
        },
    )


@capability_required("view")
def campaign_report(request: HttpRequest, pk: int) -> HttpResponseBase:
    campaign = get_object_or_404(CertificationCampaign, pk=pk)
    outcomes_refresh(CertificationItem.objects.filter(campaign=campaign))
    rows = report_items(CertificationItem.objects.filter(campaign=campaign))
    return csv_response(rows, REPORT_COLUMNS, f"certification-{campaign.pk}")


@capability_required("manage_config")
def campaign_new(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_start(
                actor=request.user,
                source=Source.CONSOLE,
                name=form.cleaned_data["name"],
                scope=form.scope(),
                ends_at=form.cleaned_data["ends_at"],
                undecided_action=form.cleaned_data["undecided_action"],
            )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(
                request,
                _("Campaign %(name)s started: %(count)s item(s) to review.")
                % {"name": campaign.name, "count": campaign.item_count},
            )
            return redirect("console_certification:campaign", pk=campaign.pk)
    return render_console(request, "console/certification/campaign_new.html", {"form": form})


@capability_required("manage_config")
def micro_new(request: HttpRequest) -> HttpResponse:
    """Micro-certification: one access put to review now, until a date."""
    form = MicroCertificationForm(request.POST or None, initial=request.GET.dict() or None)
    if request.method == "POST" and form.is_valid():
        access_id = form.access_id()
        if access_id is not None:
            try:
                campaign = micro_certification_start(
                    actor=request.user,
                    source=Source.CONSOLE,
                    kind=form.cleaned_data["kind"],
                    access_id=access_id,
                    reviewer=form.cleaned_data["reviewer"],
                    ends_at=form.cleaned_data["ends_at"],
                    undecided_action=form.cleaned_data["undecided_action"],
                )
            except DomainError as error:
                report_domain_error(request, error, form)
            else:
                messages.success(request, _("%(name)s: sent to its reviewer.") % {"name": campaign.name})
                return redirect("console_certification:campaign", pk=campaign.pk)
    return render_console(request, "console/certification/micro_new.html", {"form": form})


@capability_required("manage_config")
@require_POST
def campaign_close(request: HttpRequest, pk: int, how: str) -> HttpResponse:
    campaign = get_object_or_404(CertificationCampaign, pk=pk)
    try:
        if how == "finish":
            result = campaign_finish(actor=request.user, source=Source.CONSOLE, campaign=campaign)
            messages.success(
                request,
                _(
                    "Campaign %(name)s finished: %(kept)s undecided item(s) kept, "
                    "%(requests)s revoke request(s) created, %(refused)s refused."
                )
                % {
                    "name": campaign.name,
                    "kept": result.kept,
                    "requests": result.revoke_requests,
                    "refused": result.revoke_refused,
                },
            )
        elif how == "cancel":
            campaign_cancel(
                actor=request.user,
                source=Source.CONSOLE,
                campaign=campaign,
                reason=request.POST.get("reason", ""),
            )
            messages.success(
                request,
                _("Campaign %(name)s cancelled: undecided items were dropped.") % {"name": campaign.name},
            )
        else:
            raise ValidationFailed(_("Unknown action."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("console_certification:campaign", pk=campaign.pk)


# --- workspace: the reviewer's page --------------------------------------------------------------

ORDERINGS = {
    "beneficiary": "beneficiary__username",
    "access": "kind",
    "criticality": "criticality",
    "campaign": "campaign__ends_at",
}


def _reviewer_rows(request: HttpRequest) -> tuple[Any, dict[str, str]]:
    user = cast(User, request.user)
    qs = selectors.reviewer_items(user).filter(campaign__status=CampaignStatus.RUNNING)
    asked = {
        k: request.GET.get(k, "").strip() for k in ("campaign", "decision", "kind", "criticality", "q", "o")
    }
    if asked["campaign"].isdigit():
        qs = qs.filter(campaign_id=int(asked["campaign"]))
    decision = asked["decision"] or "NONE"
    asked["decision"] = decision
    if decision in Decision.values:
        qs = qs.filter(decision=decision)
    if asked["kind"] in ObjectKind.values:
        qs = qs.filter(kind=asked["kind"])
    if asked["criticality"]:
        qs = qs.filter(criticality=asked["criticality"])
    if asked["q"]:
        q = asked["q"]
        qs = qs.filter(
            Q(beneficiary__username__icontains=q)
            | Q(beneficiary__display_name__icontains=q)
            | Q(resource__name__icontains=q)
            | Q(entitlement__name__icontains=q)
            | Q(role__name__icontains=q)
        )
    key = asked["o"].lstrip("-")
    if key in ORDERINGS:
        qs = qs.order_by(("-" if asked["o"].startswith("-") else "") + ORDERINGS[key], "id")
    else:
        qs = qs.order_by("beneficiary__username", "id")
    return qs, asked


@workspace_required
def review(request: HttpRequest) -> HttpResponse:
    """Every item the user reviews, with its context; bulk keep/revoke with a comment."""
    if request.method == "POST":
        return _review_decide(request)
    rows, asked = _reviewer_rows(request)
    page = Paginator(rows, PAGE).get_page(request.GET.get("page"))
    items = list(page.object_list)
    context = selectors.item_context(items)
    user = cast(User, request.user)
    mine = selectors.reviewer_items(user).filter(campaign_id=OuterRef("pk"))
    campaigns = CertificationCampaign.objects.filter(Exists(mine), status=CampaignStatus.RUNNING)
    return render(
        request,
        "workspace/certification/review.html",
        {
            "page_obj": page,
            "rows": [(item, context[item.pk]) for item in items],
            "asked": asked,
            "campaigns": campaigns,
            "kinds": ObjectKind.choices,
            "decisions": Decision.choices,
            "query": request.GET.urlencode(),
        },
    )


def _review_decide(request: HttpRequest) -> HttpResponse:
    ids = [int(i) for i in request.POST.getlist("items") if i.isdigit()]
    decision = request.POST.get("decision", "")
    back = reverse("workspace_certification:review") + (
        "?" + request.POST["query"] if request.POST.get("query") else ""
    )
    try:
        result = items_decide(
            actor=cast(User, request.user),
            source=Source.WORKSPACE,
            items=ids,
            decision=decision,
            comment=request.POST.get("comment", ""),
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        if result.kept:
            messages.success(request, _("%(count)s access(es) kept.") % {"count": len(result.kept)})
        if result.revoked:
            messages.success(
                request,
                _(
                    "%(count)s access(es) to revoke: request(s) %(requests)s created (approval and provisioning follow)."
                )
                % {"count": len(result.revoked), "requests": ", ".join(f"#{n}" for n in result.requests)},
            )
    return redirect(back)


# --- the worklist's hooks for certification tasks (``CertificationConfig.ready``) ------------------


def certification_task_page(request: HttpRequest, task: Task) -> HttpResponse:
    """A certification task's page in My tasks: the reviewer's page on that campaign."""
    return redirect(f"{reverse('workspace_certification:review')}?campaign={task.subject_id or ''}")


def certification_task_decide(
    *, actor: Any, source: str, task: Task, decision: str, comment: str = "", **details: Any
) -> None:
    """A certification task is not decided as a whole: its items are, one by one or in bulk."""
    raise ValidationFailed(
        _(
            "Decide the items of the campaign on the review page (keep or revoke each access); "
            "the task closes when every item is decided."
        ),
        fields={"decision": [_("Decide the items, not the task.")]},
    )
