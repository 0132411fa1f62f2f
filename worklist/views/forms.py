"""Console forms of the task SLA settings: they check the shape of the input; the services in
``worklist.services.sla_config`` check the rules."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from blazon.console import ObjectForm
from directory.models import Criticality, User
from worklist.models import (
    Calendar,
    EscalationAction,
    EscalationPolicy,
    EscalationStep,
    Queue,
    TaskKind,
)
from worklist.registry import subject_type_choices
from worklist.services.calendar import WEEKDAYS

TIMEZONES = sorted(available_timezones())


class CalendarForm(ObjectForm):
    name = forms.CharField(max_length=200, label=_("Name"))
    timezone = forms.ChoiceField(
        choices=[(tz, tz) for tz in TIMEZONES],
        initial="UTC",
        help_text=_("Working hours and holidays are read in this time zone (daylight saving included)."),
        label=_("Timezone"),
    )
    working_days = forms.TypedMultipleChoiceField(
        choices=list(enumerate(WEEKDAYS)),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        initial=[0, 1, 2, 3, 4],
        label=_("Working days"),
    )
    day_start = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}), initial="09:00", label=_("Day start")
    )
    day_end = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}),
        initial="18:00",
        help_text=_("The working day ends after it starts, on the same day."),
        label=_("Day end"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("day_start"), data.get("day_end")
        if start and end and end <= start:
            self.add_error("day_end", gettext("The working day must end after it starts (same day)."))
        return data


class HolidayForm(forms.Form):
    date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), help_text=_("YYYY-MM-DD"), label=_("Date")
    )
    name = forms.CharField(max_length=200, label=_("Name"))


class TaskDefinitionForm(ObjectForm):
    name = forms.CharField(max_length=200, label=_("Name"))
    task_kind = forms.ChoiceField(choices=TaskKind.choices, label=_("Task kind"))
    request_types = forms.MultipleChoiceField(
        choices=subject_type_choices,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("Only tasks of requests of these types. None selected: every type."),
        label=_("Request types"),
    )
    criticality = forms.ChoiceField(
        choices=[("", _("Any criticality")), *Criticality.choices],
        required=False,
        help_text=_("Of the entitlement, else the role, else the resource the request is about."),
        label=_("Criticality"),
    )
    sla_hours = forms.IntegerField(
        min_value=1,
        label=_("SLA (business hours)"),
        help_text=_("Hours to resolve the task, on the calendar below."),
    )
    calendar = forms.ModelChoiceField(
        queryset=Calendar.objects.order_by("name"),
        required=False,
        empty_label=_("No calendar: clock hours, every day"),
        label=_("Calendar"),
    )
    escalation_policy = forms.ModelChoiceField(
        queryset=EscalationPolicy.objects.order_by("name"),
        required=False,
        empty_label=_("No escalation"),
        label=_("Escalation policy"),
    )
    priority = forms.IntegerField(
        min_value=0,
        initial=100,
        help_text=_("Lower wins among equally specific definitions."),
        label=_("Priority"),
    )
    active = forms.BooleanField(required=False, initial=True, label=_("Active"))


class EscalationPolicyForm(ObjectForm):
    name = forms.CharField(max_length=200, label=_("Name"))
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label=_("Description")
    )


class EscalationStepForm(ObjectForm):
    after_hours = forms.IntegerField(
        min_value=1, label=_("After (business hours)"), help_text=_("Since the task was opened.")
    )
    action = forms.ChoiceField(choices=EscalationAction.choices, label=_("Action"))
    queue = forms.ModelChoiceField(
        queryset=Queue.objects.order_by("name"),
        required=False,
        help_text=_("For “Escalate to a queue”."),
        label=_("Queue"),
    )
    users = forms.CharField(
        required=False,
        label=_("Users"),
        help_text=_(
            "Usernames, separated by commas or spaces: for “Escalate to named users”, and for "
            "“Escalate to the next approver” when the request has no next approval level."
        ),
    )
    keep_assignees = forms.BooleanField(
        required=False,
        initial=True,
        label=_("Keep the current resolvers"),
        help_text=_("Unticked, the new resolvers replace them."),
    )
    position = forms.IntegerField(
        min_value=1,
        required=False,
        help_text=_("Order in the list. Empty: after the last step."),
        label=_("Position"),
    )

    @classmethod
    def initial_from(cls, step: EscalationStep) -> dict[str, Any]:
        users = step.users.order_by("username").values_list("username", flat=True)
        return {**super().initial_from(step), "users": ", ".join(users)}

    def clean_users(self) -> list[User]:
        names = [n for n in re.split(r"[\s,;]+", self.cleaned_data.get("users") or "") if n]
        if len(names) > 100:
            raise forms.ValidationError(gettext("At most 100 users."))
        found = {u.username: u for u in User.objects.filter(username__in=names)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise forms.ValidationError(
                gettext("Unknown user(s): %(usernames)s.") % {"usernames": ", ".join(unknown)}
            )
        return [found[n] for n in dict.fromkeys(names)]

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if data.get("position") is None:
            data.pop("position", None)
        return data
