"""Console pages of the task SLA settings (seed "Tarefas"): calendars and their holidays, task
definitions, escalation policies and their steps. Every page needs ``manage_config``; the services
in ``worklist.services.sla_config`` validate, save and audit, and their field errors come back on
the forms."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from blazon.errors import DomainError
from directory.models import Source
from directory.views.common import capability_required, report_domain_error
from directory.views.console import render_console
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
manage_config = capability_required("manage_config")


def _form_page(request: HttpRequest, form: Any, title: str, cancel_url: str, kind: str) -> HttpResponse:
    return render_console(
        request, "console/form.html", {"form": form, "title": title, "cancel_url": cancel_url, "kind": kind}
    )


def _confirm_page(
    request: HttpRequest, *, title: str, subtitle: str, text: str, button: str, cancel_url: str, kind: str
) -> HttpResponse:
    return render_console(
        request,
        "console/requests/sla_delete.html",
        {
            "title": title,
            "subtitle": subtitle,
            "text": text,
            "button": button,
            "cancel_url": cancel_url,
            "kind": kind,
        },
    )


# --- calendars --------------------------------------------------------------------------------


@manage_config
@require_GET
def calendars(request: HttpRequest) -> HttpResponse:
    rows = Calendar.objects.annotate(
        n_holidays=Count("holidays", distinct=True), n_definitions=Count("definitions", distinct=True)
    ).order_by("name")
    return render_console(
        request, "console/requests/calendars.html", {"calendars": rows, "weekdays": WEEKDAYS}
    )


@manage_config
@require_http_methods(["GET", "POST"])
def calendar_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    calendar = get_object_or_404(Calendar, pk=pk) if pk else None
    form = CalendarForm(request.POST or None, calendar=calendar)
    if request.method == "POST" and form.is_valid():
        try:
            if calendar is None:
                calendar = sla_config.calendar_create(
                    actor=request.user, source=SOURCE, data=form.cleaned_data
                )
            else:
                calendar = sla_config.calendar_update(
                    actor=request.user, source=SOURCE, calendar=calendar, data=form.cleaned_data
                )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Calendar {calendar.name} saved.")
            return redirect("console_requests:calendar_detail", pk=calendar.pk)
    title = f"Edit calendar {calendar.name}" if calendar else "New calendar"
    cancel = (
        reverse("console_requests:calendar_detail", args=[calendar.pk])
        if calendar
        else reverse("console_requests:calendars")
    )
    return _form_page(request, form, title, cancel, "calendar")


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
                    actor=request.user,
                    source=SOURCE,
                    calendar=calendar,
                    day=form.cleaned_data["date"],
                    name=form.cleaned_data["name"],
                )
            except DomainError as error:
                report_domain_error(request, error, form)
            else:
                messages.success(request, f"Holiday {holiday.name} on {holiday.date} added.")
                return redirect("console_requests:calendar_detail", pk=calendar.pk)
    context = {
        "calendar": calendar,
        "days": [name for i, name in enumerate(WEEKDAYS) if i in (calendar.working_days or [])],
        "holidays": calendar.holidays.order_by("date"),
        "definitions": calendar.definitions.order_by("name"),
        "form": form,
    }
    return render_console(request, "console/requests/calendar_detail.html", context)


@manage_config
@require_http_methods(["GET", "POST"])
def calendar_delete(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = get_object_or_404(Calendar, pk=pk)
    if request.method == "POST":
        try:
            sla_config.calendar_delete(actor=request.user, source=SOURCE, calendar=calendar)
        except DomainError as error:
            report_domain_error(request, error)
        else:
            messages.success(request, f"Calendar {calendar.name} deleted.")
            return redirect("console_requests:calendars")
    n = calendar.definitions.count()
    return _confirm_page(
        request,
        title=f"Delete calendar {calendar.name}",
        subtitle=calendar.timezone,
        text=(
            f"{n} task definition(s) use this calendar: Blazon will refuse to delete it until they use another."
            if n
            else "The calendar and its holidays are removed. No task definition uses it."
        ),
        button="Delete calendar",
        cancel_url=reverse("console_requests:calendar_detail", args=[calendar.pk]),
        kind="calendar",
    )


@manage_config
@require_http_methods(["GET", "POST"])
def holiday_delete(request: HttpRequest, pk: int) -> HttpResponse:
    holiday = get_object_or_404(Holiday.objects.select_related("calendar"), pk=pk)
    back = reverse("console_requests:calendar_detail", args=[holiday.calendar_id])
    if request.method == "POST":
        try:
            sla_config.holiday_delete(actor=request.user, source=SOURCE, holiday=holiday)
        except DomainError as error:
            report_domain_error(request, error)
        else:
            messages.success(request, f"Holiday {holiday.name} removed.")
            return redirect(back)
    return _confirm_page(
        request,
        title=f"Remove holiday {holiday.name}",
        subtitle=f"{holiday.date} · {holiday.calendar.name}",
        text="That day counts as a working day again for SLAs and escalations on this calendar.",
        button="Remove holiday",
        cancel_url=back,
        kind="holiday",
    )


# --- task definitions -------------------------------------------------------------------------


@manage_config
@require_GET
def definitions(request: HttpRequest) -> HttpResponse:
    rows = TaskDefinition.objects.select_related("calendar", "escalation_policy").order_by(
        "task_kind", "priority", "id"
    )
    return render_console(
        request,
        "console/requests/definitions.html",
        {"definitions": rows, "type_labels": dict(subject_type_choices())},
    )


@manage_config
@require_http_methods(["GET", "POST"])
def definition_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    definition = get_object_or_404(TaskDefinition, pk=pk) if pk else None
    form = TaskDefinitionForm(request.POST or None, definition=definition)
    if request.method == "POST" and form.is_valid():
        try:
            if definition is None:
                definition = sla_config.task_definition_create(
                    actor=request.user, source=SOURCE, data=form.cleaned_data
                )
            else:
                definition = sla_config.task_definition_update(
                    actor=request.user, source=SOURCE, definition=definition, data=form.cleaned_data
                )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Task definition {definition.name} saved.")
            return redirect("console_requests:definitions")
    title = f"Edit task definition {definition.name}" if definition else "New task definition"
    return _form_page(request, form, title, reverse("console_requests:definitions"), "definition")


@manage_config
@require_http_methods(["GET", "POST"])
def definition_delete(request: HttpRequest, pk: int) -> HttpResponse:
    definition = get_object_or_404(TaskDefinition, pk=pk)
    if request.method == "POST":
        try:
            sla_config.task_definition_delete(actor=request.user, source=SOURCE, definition=definition)
        except DomainError as error:
            report_domain_error(request, error)
        else:
            messages.success(request, f"Task definition {definition.name} deleted.")
            return redirect("console_requests:definitions")
    n_open = definition.tasks.filter(status="OPEN").count()
    return _confirm_page(
        request,
        title=f"Delete task definition {definition.name}",
        subtitle=f"{definition.get_task_kind_display()} · SLA {definition.sla_hours} business hours",
        text=f"New tasks stop getting this SLA. {n_open} open task(s) keep their due date and stop escalating.",
        button="Delete task definition",
        cancel_url=reverse("console_requests:definitions"),
        kind="definition",
    )


# --- escalation policies ----------------------------------------------------------------------


@manage_config
@require_GET
def escalations(request: HttpRequest) -> HttpResponse:
    rows = EscalationPolicy.objects.annotate(
        n_steps=Count("steps", distinct=True), n_definitions=Count("definitions", distinct=True)
    ).order_by("name")
    return render_console(request, "console/requests/escalations.html", {"policies": rows})


@manage_config
@require_http_methods(["GET", "POST"])
def escalation_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    policy = get_object_or_404(EscalationPolicy, pk=pk) if pk else None
    form = EscalationPolicyForm(request.POST or None, policy=policy)
    if request.method == "POST" and form.is_valid():
        try:
            if policy is None:
                policy = sla_config.escalation_policy_create(
                    actor=request.user, source=SOURCE, data=form.cleaned_data
                )
            else:
                policy = sla_config.escalation_policy_update(
                    actor=request.user, source=SOURCE, policy=policy, data=form.cleaned_data
                )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Escalation policy {policy.name} saved.")
            return redirect("console_requests:escalation_detail", pk=policy.pk)
    title = f"Edit escalation policy {policy.name}" if policy else "New escalation policy"
    cancel = (
        reverse("console_requests:escalation_detail", args=[policy.pk])
        if policy
        else reverse("console_requests:escalations")
    )
    return _form_page(request, form, title, cancel, "escalation")


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


@manage_config
@require_http_methods(["GET", "POST"])
def escalation_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(EscalationPolicy, pk=pk)
    if request.method == "POST":
        try:
            sla_config.escalation_policy_delete(actor=request.user, source=SOURCE, policy=policy)
        except DomainError as error:
            report_domain_error(request, error)
        else:
            messages.success(request, f"Escalation policy {policy.name} deleted.")
            return redirect("console_requests:escalations")
    n = policy.definitions.count()
    return _confirm_page(
        request,
        title=f"Delete escalation policy {policy.name}",
        subtitle=f"{policy.steps.count()} step(s)",
        text=(
            f"{n} task definition(s) use this policy: Blazon will refuse to delete it until they use another."
            if n
            else "The policy and its steps are removed. No task definition uses it."
        ),
        button="Delete escalation policy",
        cancel_url=reverse("console_requests:escalation_detail", args=[policy.pk]),
        kind="escalation",
    )


@manage_config
@require_http_methods(["GET", "POST"])
def step_edit(request: HttpRequest, policy_pk: int | None = None, pk: int | None = None) -> HttpResponse:
    step = get_object_or_404(EscalationStep.objects.select_related("policy"), pk=pk) if pk else None
    policy = step.policy if step else get_object_or_404(EscalationPolicy, pk=policy_pk)
    form = EscalationStepForm(request.POST or None, step=step)
    if request.method == "POST" and form.is_valid():
        try:
            if step is None:
                sla_config.escalation_step_create(
                    actor=request.user, source=SOURCE, policy=policy, data=form.service_data()
                )
            else:
                sla_config.escalation_step_update(
                    actor=request.user, source=SOURCE, step=step, data=form.service_data()
                )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Step of {policy.name} saved.")
            return redirect("console_requests:escalation_detail", pk=policy.pk)
    title = f"Edit step {step.position} of {policy.name}" if step else f"New step of {policy.name}"
    return _form_page(
        request, form, title, reverse("console_requests:escalation_detail", args=[policy.pk]), "step"
    )


@manage_config
@require_http_methods(["GET", "POST"])
def step_delete(request: HttpRequest, pk: int) -> HttpResponse:
    step = get_object_or_404(EscalationStep.objects.select_related("policy"), pk=pk)
    back = reverse("console_requests:escalation_detail", args=[step.policy_id])
    if request.method == "POST":
        try:
            sla_config.escalation_step_delete(actor=request.user, source=SOURCE, step=step)
        except DomainError as error:
            report_domain_error(request, error)
        else:
            messages.success(request, f"Step {step.position} of {step.policy.name} removed.")
            return redirect(back)
    return _confirm_page(
        request,
        title=f"Remove step {step.position} of {step.policy.name}",
        subtitle=f"{step.get_action_display()} after {step.after_hours} business hours",
        text="Open tasks under this policy no longer get this step; what it already did stays.",
        button="Remove step",
        cancel_url=back,
        kind="step",
    )
