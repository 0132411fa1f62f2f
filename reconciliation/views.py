"""Console pages of reconciliation (``/console/reconciliation/``).

Read (any console role): the profiles with their rules, actions and mappings, the runs with
their counts, first rows and errors, the cases. Change (administrators): create, edit and delete
profiles, run now or dry run, confirm or cancel a run the safety limit stopped, resolve a case
in one click, test a mapping expression on a sample row."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from blazon.console.access import capability_required, render_console
from blazon.console.views import ObjectDeleteView, ObjectEditView, ObjectListView, ObjectView
from blazon.errors import DomainError
from blazon.permissions import can
from directory.models import Source, User
from reconciliation import selectors
from reconciliation.expressions import ExpressionError, evaluate
from reconciliation.forms import ExpressionTestForm, ProfileForm
from reconciliation.models import (
    Action,
    CaseStatus,
    ProfileKind,
    ReconciliationCase,
    ReconciliationProfile,
    ReconciliationRun,
    RunStatus,
    Situation,
)
from reconciliation.services.cases import RESOLUTION_LABELS, RESOLUTIONS, case_resolve
from reconciliation.services.profiles import profile_create, profile_delete, profile_update
from reconciliation.services.runs import run_cancel
from reconciliation.services.schedule import run_confirm_and_queue, run_start
from reconciliation.sources import csv_text_rows
from worklist.models import Task

LIVE = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.APPLYING)


class ProfileList(ObjectListView):
    queryset = selectors.profiles_for(None)
    template_name = "console/reconciliation/profiles.html"
    search = ("code", "name", "description")
    filters = {"kind": "kind", "active": "active"}
    orderings = {"code": "code", "name": "name", "kind": "kind"}
    default_order = "code"
    csv_name = "reconciliation-profiles"
    csv_columns = (
        ("code", "code"),
        ("name", "name"),
        ("kind", lambda p: p.get_kind_display()),
        ("resource", lambda p: p.resource.code if p.resource else ""),
        ("source", lambda p: p.get_source_type_display()),
        ("schedule", "schedule"),
        ("active", lambda p: "yes" if p.active else "no"),
    )

    def extra_context(self) -> dict[str, Any]:
        return {"kinds": ProfileKind.choices}


class ProfileDetail(ObjectView):
    queryset = selectors.profiles_for(None)
    template_name = "console/reconciliation/profile.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        profile = self.get_object()
        return self.render(_profile_context(request, profile, ExpressionTestForm()))


def _profile_context(
    request: HttpRequest, profile: ReconciliationProfile, form: Any, **extra: Any
) -> dict[str, Any]:
    return {
        "profile": profile,
        "actions": [(a.get_situation_display(), a.get_action_display()) for a in profile.actions.all()],
        "runs": selectors.runs_for(request.user).filter(profile=profile)[:20],
        "open_cases": selectors.cases_for(request.user)
        .filter(profile=profile, status=CaseStatus.OPEN)
        .count(),
        "test_form": form,
        **extra,
    }


profile_edit = ObjectEditView.as_view(
    model=ReconciliationProfile,
    form_class=ProfileForm,
    form_object_kwarg="profile",
    noun=gettext_lazy("reconciliation profile"),
    new_title=gettext_lazy("New reconciliation profile"),
    edit_title=gettext_lazy("Edit reconciliation profile {name}"),
    saved_message=gettext_lazy("Reconciliation profile {name} saved."),
    kind="reconciliation-profile",
    create=profile_create,
    update=profile_update,
    object_kwarg="profile",
    detail_route="console_reconciliation:profile",
    list_route="console_reconciliation:profiles",
)


class ProfileDelete(ObjectDeleteView):
    model, noun = ReconciliationProfile, gettext_lazy("reconciliation profile")
    delete_service = staticmethod(profile_delete)
    object_kwarg = "profile"
    detail_route, list_route = "console_reconciliation:profile", "console_reconciliation:profiles"
    list_title = cast(str, gettext_lazy("Reconciliation profiles"))
    deleted_message = cast(str, gettext_lazy("Reconciliation profile {name} deleted."))

    def explain(self, obj: ReconciliationProfile) -> str:
        return _(
            "The profile no longer runs; its runs, cases and links go with it, and its vault secret is "
            "deleted. Nothing changes in the directory. The audit log keeps them."
        )


@capability_required("manage_config")
@require_POST
def profile_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Run now, or a dry run (``dry_run=1``): the run page shows its progress."""
    profile = get_object_or_404(ReconciliationProfile, pk=pk)
    dry = request.POST.get("dry_run") == "1"
    try:
        run = run_start(actor=request.user, source=Source.CONSOLE, profile=profile, dry_run=dry)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("console_reconciliation:profile", pk=profile.pk)
    messages.success(
        request,
        (_("Dry run #%(id)s of %(name)s started.") if dry else _("Run #%(id)s of %(name)s started."))
        % {"id": run.pk, "name": profile.name},
    )
    return redirect("console_reconciliation:run", pk=run.pk)


@capability_required("manage_config")
@require_POST
def expression_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Evaluate a mapping expression on a sample row, show its value or why it fails."""
    profile = get_object_or_404(selectors.profiles_for(request.user), pk=pk)
    form = ExpressionTestForm(request.POST)
    result, error = None, None
    if form.is_valid():
        rows = csv_text_rows(form.cleaned_data["sample"])
        if not rows:
            error = _("The sample needs a header line and one row.")
        else:
            try:
                result = evaluate(form.cleaned_data["expression"], rows[0])
            except ExpressionError as exc:
                error = str(exc)
    context = _profile_context(request, profile, form, test_result=result, test_error=error)
    return render_console(
        request, "console/reconciliation/profile.html", context, status=400 if error else 200
    )


# --- runs ---------------------------------------------------------------------------------------


class RunList(ObjectListView):
    queryset = selectors.runs_for(None)
    template_name = "console/reconciliation/runs.html"
    search = ("profile__code", "profile__name")
    filters = {"status": "status", "profile": "profile__code"}
    orderings = {"created": "created_at", "finished": "finished_at"}
    default_order = "-created"

    def extra_context(self) -> dict[str, Any]:
        return {"statuses": RunStatus.choices}


def _labelled(counts: dict[str, int], labels: Any) -> list[tuple[str, int]]:
    out = []
    for code, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        try:
            out.append((labels(code).label, n))
        except ValueError:
            out.append((code or "—", n))
    return out


class RunDetail(ObjectView):
    queryset = selectors.runs_for(None)
    template_name = "console/reconciliation/run.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        run: ReconciliationRun = self.get_object()
        samples = [
            (Situation(s).label if s in Situation.values else s, rows) for s, rows in run.samples.items()
        ]
        return self.render(
            {
                "run": run,
                "situations": _labelled(run.situations, Situation),
                "actions": _labelled(run.actions, Action),
                "samples": samples,
                "row_errors": selectors.row_errors_of(run)[:200],
                "live": run.status in LIVE,
                "cancelable": run.status in (*LIVE, RunStatus.WAITING_CONFIRMATION),
            }
        )


@capability_required("manage_config")
@require_POST
def run_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    run = get_object_or_404(ReconciliationRun, pk=pk)
    try:
        if decision == "confirm":
            run_confirm_and_queue(actor=request.user, source=Source.CONSOLE, run=run)
            messages.success(request, _("Run #%(id)s confirmed: it applies now.") % {"id": run.pk})
        elif decision == "cancel":
            run_cancel(actor=request.user, source=Source.CONSOLE, run=run)
            messages.success(request, _("Run #%(id)s canceled: it applies nothing more.") % {"id": run.pk})
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("console_reconciliation:run", pk=run.pk)


# --- cases ----------------------------------------------------------------------------------------


class CaseList(ObjectListView):
    queryset = selectors.cases_for(None)
    template_name = "console/reconciliation/cases.html"
    search = ("key", "profile__code")
    filters = {"status": "status", "profile": "profile__code"}
    orderings = {"created": "created_at"}
    default_order = "-created"

    def get_queryset(self) -> Any:
        qs = super().get_queryset()
        return qs if self.request.GET.get("status") else qs.filter(status=CaseStatus.OPEN)


class CaseDetail(ObjectView):
    queryset = selectors.cases_for(None)
    template_name = "console/reconciliation/case.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        case: ReconciliationCase = self.get_object()
        people = User.objects.in_bulk(case.candidates)
        candidates = [people[pk] for pk in case.candidates if pk in people]
        offered = RESOLUTIONS.get(case.profile.kind, {}).get(case.situation, ())
        return self.render(
            {
                "case": case,
                "row": sorted((case.data.get("row") or {}).items()),
                "candidates": candidates,
                "link": "link" in offered,
                "others": [(r, RESOLUTION_LABELS[r]) for r in offered if r != "link"],
                "may_decide": case.status == CaseStatus.OPEN and can(request.user, "manage_config"),
            }
        )


@capability_required("manage_config")
@require_POST
def case_decide(request: HttpRequest, pk: int) -> HttpResponse:
    case = get_object_or_404(ReconciliationCase, pk=pk)
    try:
        case_resolve(
            actor=cast(User, request.user),
            source=Source.CONSOLE,
            case=case,
            resolution=request.POST.get("resolution", ""),
            candidate=request.POST.get("candidate"),
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("console_reconciliation:case", pk=case.pk)
    case.refresh_from_db()
    messages.success(
        request,
        _("Case %(key)s resolved: %(resolution)s.") % {"key": case.key, "resolution": case.resolution},
    )
    return redirect("console_reconciliation:cases")


def case_task_page(request: HttpRequest, task: Task) -> HttpResponse:
    """A reconciliation task's page in My tasks: the case's page, with its resolutions."""
    return redirect("console_reconciliation:case", pk=task.subject_id)
