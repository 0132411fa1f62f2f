"""Console pages of the task SLA settings (seed "Tarefas"): calendars and their holidays, task
definitions, escalation policies and their steps. Every page needs ``manage_config``; the
services in ``worklist.services.sla_config`` validate, save and audit, and their field errors come
back on the forms. Edit and delete screens are the console kernel's (``blazon.console``)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from blazon.console import (
    ObjectDeleteView,
    ObjectEditView,
    ObjectListView,
    capability_required,
    render_console,
)
from blazon.console.access import report_domain_error
from blazon.errors import DomainError
from directory.models import Source, User
from worklist.models import Calendar, EscalationPolicy, EscalationStep, Holiday, TaskDefinition
from worklist.registry import subject_type_choices
from worklist.services import sla_config
from worklist.services.calendar import WEEKDAYS
from worklist.views.forms import (
    CalendarForm,
    EscalationPolicyForm,
    EscalationStepForm,
    HolidayForm,
    TaskDefinitionForm,
)

SOURCE = Source.CONSOLE


def logged_in(request: HttpRequest) -> User:
    """The acting user: the capability check in front of every page let only a logged-in one in."""
    return cast(User, request.user)


manage_config = capability_required("manage_config")


# --- calendars --------------------------------------------------------------------------------


calendars = ObjectListView.as_view(
    capability="manage_config",
    queryset=Calendar.objects.annotate(
        n_holidays=Count("holidays", distinct=True), n_definitions=Count("definitions", distinct=True)
    ).order_by("name"),
    template_name="console/requests/calendars.html",
    paginate_by=0,
    context_object_name="calendars",
    extra_context=lambda: {"weekdays": WEEKDAYS},
)


calendar_edit = ObjectEditView.as_view(
    model=Calendar,
    form_class=CalendarForm,
    noun=_("calendar"),
    new_title=_("New calendar"),
    edit_title=_("Edit calendar {name}"),
    saved_message=_("Calendar {name} saved."),
    object_kwarg="calendar",
    create=sla_config.calendar_create,
    update=sla_config.calendar_update,
    data_kwarg=True,
    detail_route="console_requests:calendar_detail",
    list_route="console_requests:calendars",
)


@manage_config
@require_http_methods(["GET", "POST"])
def calendar_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The calendar, its holidays, and the form that adds one (POST)."""
    calendar = get_object_or_404(Calendar, pk=pk)
    form = HolidayForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                holiday = sla_config.holiday_add(
                    actor=logged_in(request),
                    source=SOURCE,
                    calendar=calendar,
                    day=form.cleaned_data["date"],
                    name=form.cleaned_data["name"],
                )
            except DomainError as error:
                report_domain_error(request, error, form)
            else:
                messages.success(
                    request,
                    gettext("Holiday %(name)s on %(date)s added.")
                    % {"name": holiday.name, "date": holiday.date},
                )
                return redirect("console_requests:calendar_detail", pk=calendar.pk)
    context = {
        "calendar": calendar,
        "days": [name for i, name in enumerate(WEEKDAYS) if i in (calendar.working_days or [])],
        "holidays": calendar.holidays.order_by("date"),
        "definitions": calendar.definitions.order_by("name"),
        "form": form,
    }
    return render_console(request, "console/requests/calendar_detail.html", context)


class CalendarDelete(ObjectDeleteView):
    model, noun, object_kwarg = Calendar, _("calendar"), "calendar"
    delete_service = staticmethod(sla_config.calendar_delete)
    detail_route, list_route, list_title = (
        "console_requests:calendar_detail",
        "console_requests:calendars",
        _("Calendars"),
    )
    unblock = _("make them use another calendar first.")
    deleted_message = _("Calendar {name} deleted.")

    def subtitle(self, calendar: Calendar) -> str:
        return calendar.timezone

    def blockers(self, calendar: Calendar) -> list[str]:
        n = calendar.definitions.count()
        return [gettext("%(count)s task definition(s) use this calendar") % {"count": n}] if n else []

    def explain(self, calendar: Calendar) -> str:
        return gettext("The calendar and its holidays are removed. No task definition uses it.")


calendar_delete = CalendarDelete.as_view()


class HolidayDelete(ObjectDeleteView):
    noun, verb, object_kwarg = _("holiday"), _("Remove"), "holiday"
    queryset = Holiday.objects.select_related("calendar")
    delete_service = staticmethod(sla_config.holiday_delete)
    deleted_message, list_title = _("Holiday {name} removed."), _("Calendar")

    def detail_url(self, holiday: Any) -> str:
        return reverse("console_requests:calendar_detail", args=[self.get_object().calendar_id])

    def list_url(self) -> str:  # the holidays are listed on their calendar's page
        return self.detail_url(None)

    def subtitle(self, holiday: Holiday) -> str:
        return f"{holiday.date} · {holiday.calendar.name}"

    def explain(self, holiday: Holiday) -> str:
        return gettext("That day counts as a working day again for SLAs and escalations on this calendar.")


holiday_delete = HolidayDelete.as_view()


# --- task definitions -------------------------------------------------------------------------


definitions = ObjectListView.as_view(
    capability="manage_config",
    queryset=TaskDefinition.objects.select_related("calendar", "escalation_policy").order_by(
        "task_kind", "priority", "id"
    ),
    template_name="console/requests/definitions.html",
    paginate_by=0,
    context_object_name="definitions",
    extra_context=lambda: {"type_labels": dict(subject_type_choices())},
)


definition_edit = ObjectEditView.as_view(
    model=TaskDefinition,
    form_class=TaskDefinitionForm,
    noun=_("task definition"),
    new_title=_("New task definition"),
    edit_title=_("Edit task definition {name}"),
    saved_message=_("Task definition {name} saved."),
    kind="definition",
    object_kwarg="definition",
    create=sla_config.task_definition_create,
    update=sla_config.task_definition_update,
    data_kwarg=True,
    go_to_list=True,
    list_route="console_requests:definitions",
)


class DefinitionDelete(ObjectDeleteView):
    model, noun, object_kwarg = TaskDefinition, _("task definition"), "definition"
    delete_service = staticmethod(sla_config.task_definition_delete)
    list_route, list_title = "console_requests:definitions", _("Task definitions")
    deleted_message = _("Task definition {name} deleted.")

    def subtitle(self, definition: TaskDefinition) -> str:
        return gettext("%(kind)s · SLA %(hours)s business hours") % {
            "kind": definition.get_task_kind_display(),
            "hours": definition.sla_hours,
        }

    def explain(self, definition: TaskDefinition) -> str:
        n_open = definition.tasks.filter(status="OPEN").count()
        return gettext(
            "New tasks stop getting this SLA. %(count)s open task(s) keep their due date and stop escalating."
        ) % {"count": n_open}


definition_delete = DefinitionDelete.as_view()


# --- escalation policies ----------------------------------------------------------------------


escalations = ObjectListView.as_view(
    capability="manage_config",
    queryset=EscalationPolicy.objects.annotate(
        n_steps=Count("steps", distinct=True), n_definitions=Count("definitions", distinct=True)
    ).order_by("name"),
    template_name="console/requests/escalations.html",
    paginate_by=0,
    context_object_name="policies",
)


escalation_edit = ObjectEditView.as_view(
    model=EscalationPolicy,
    form_class=EscalationPolicyForm,
    noun=_("escalation policy"),
    new_title=_("New escalation policy"),
    edit_title=_("Edit escalation policy {name}"),
    saved_message=_("Escalation policy {name} saved."),
    kind="escalation",
    object_kwarg="policy",
    create=sla_config.escalation_policy_create,
    update=sla_config.escalation_policy_update,
    data_kwarg=True,
    detail_route="console_requests:escalation_detail",
    list_route="console_requests:escalations",
)


@manage_config
@require_GET
def escalation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(EscalationPolicy, pk=pk)
    context = {
        "policy": policy,
        "steps": policy.steps.select_related("queue")
        .prefetch_related("users")
        .order_by("after_hours", "position"),
        "definitions": policy.definitions.select_related("calendar").order_by("name"),
    }
    return render_console(request, "console/requests/escalation_detail.html", context)


class EscalationDelete(ObjectDeleteView):
    model, noun, object_kwarg = EscalationPolicy, _("escalation policy"), "policy"
    delete_service = staticmethod(sla_config.escalation_policy_delete)
    detail_route, list_route = "console_requests:escalation_detail", "console_requests:escalations"
    list_title, unblock = _("Escalation policies"), _("make them use another policy first.")
    deleted_message = _("Escalation policy {name} deleted.")

    def subtitle(self, policy: EscalationPolicy) -> str:
        return gettext("%(count)s step(s)") % {"count": policy.steps.count()}

    def blockers(self, policy: EscalationPolicy) -> list[str]:
        n = policy.definitions.count()
        return [gettext("%(count)s task definition(s) use this policy") % {"count": n}] if n else []

    def explain(self, policy: EscalationPolicy) -> str:
        return gettext("The policy and its steps are removed. No task definition uses it.")


escalation_delete = EscalationDelete.as_view()


class StepEdit(ObjectEditView):
    """A step of an escalation policy (``policy_pk`` for a new one, ``pk`` for an existing one)."""

    model, form_class, noun, kind = EscalationStep, EscalationStepForm, _("step"), "step"

    def get_object(self) -> EscalationStep | None:
        pk = self.kwargs.get("pk")
        step = get_object_or_404(EscalationStep.objects.select_related("policy"), pk=pk) if pk else None
        self.policy = (
            step.policy if step else get_object_or_404(EscalationPolicy, pk=self.kwargs["policy_pk"])
        )
        return step

    def save(self, form: EscalationStepForm, step: EscalationStep | None) -> EscalationStep:
        actor, data = logged_in(self.request), form.service_data()
        if step is None:
            return sla_config.escalation_step_create(
                actor=actor, source=SOURCE, policy=self.policy, data=data
            )
        return sla_config.escalation_step_update(actor=actor, source=SOURCE, step=step, data=data)

    def detail_url(self, obj: Any) -> str:
        return reverse("console_requests:escalation_detail", args=[self.policy.pk])

    def list_url(self) -> str:  # the steps are listed on their policy's page
        return self.detail_url(None)

    def title(self, step: EscalationStep | None) -> str:
        if step:
            return gettext("Edit step %(position)s of %(policy)s") % {
                "position": step.position,
                "policy": self.policy.name,
            }
        return gettext("New step of %(policy)s") % {"policy": self.policy.name}

    def saved_text(self, step: EscalationStep) -> str:
        return gettext("Step of %(policy)s saved.") % {"policy": self.policy.name}


step_edit = StepEdit.as_view()


class StepDelete(ObjectDeleteView):
    noun, verb, object_kwarg = _("step"), _("Remove"), "step"
    list_title = _("Escalation policy")
    queryset = EscalationStep.objects.select_related("policy")
    delete_service = staticmethod(sla_config.escalation_step_delete)

    def name_of(self, step: EscalationStep) -> str:
        return gettext("%(position)s of %(policy)s") % {"position": step.position, "policy": step.policy.name}

    def detail_url(self, step: Any) -> str:
        return reverse("console_requests:escalation_detail", args=[self.get_object().policy_id])

    def list_url(self) -> str:  # the steps are listed on their policy's page
        return self.detail_url(None)

    def deleted_text(self, step: EscalationStep, result: Any) -> str:
        return gettext("Step %(position)s of %(policy)s removed.") % {
            "position": step.position,
            "policy": step.policy.name,
        }

    def subtitle(self, step: EscalationStep) -> str:
        return gettext("%(action)s after %(hours)s business hours") % {
            "action": step.get_action_display(),
            "hours": step.after_hours,
        }

    def explain(self, step: EscalationStep) -> str:
        return gettext("Open tasks under this policy no longer get this step; what it already did stays.")


step_delete = StepDelete.as_view()
