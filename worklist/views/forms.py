"""Console forms of the task SLA settings: they check the shape of the input; the services in
``worklist.services.sla_config`` check the rules."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import available_timezones

from django import forms

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
    name = forms.CharField(max_length=200)
    timezone = forms.ChoiceField(
        choices=[(tz, tz) for tz in TIMEZONES],
        initial="UTC",
        help_text="Working hours and holidays are read in this time zone (daylight saving included).",
    )
    working_days = forms.TypedMultipleChoiceField(
        choices=list(enumerate(WEEKDAYS)),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        initial=[0, 1, 2, 3, 4],
    )
    day_start = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}), initial="09:00")
    day_end = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}),
        initial="18:00",
        help_text="The working day ends after it starts, on the same day.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("day_start"), data.get("day_end")
        if start and end and end <= start:
            self.add_error("day_end", "The working day must end after it starts (same day).")
        return data


class HolidayForm(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="YYYY-MM-DD")
    name = forms.CharField(max_length=200)


class TaskDefinitionForm(ObjectForm):
    name = forms.CharField(max_length=200)
    task_kind = forms.ChoiceField(choices=TaskKind.choices, label="Task kind")
    request_types = forms.MultipleChoiceField(
        choices=subject_type_choices,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Only tasks of requests of these types. None selected: every type.",
    )
    criticality = forms.ChoiceField(
        choices=[("", "Any criticality"), *Criticality.choices],
        required=False,
        help_text="Of the entitlement, else the role, else the resource the request is about.",
    )
    sla_hours = forms.IntegerField(
        min_value=1,
        label="SLA (business hours)",
        help_text="Hours to resolve the task, on the calendar below.",
    )
    calendar = forms.ModelChoiceField(
        queryset=Calendar.objects.order_by("name"),
        required=False,
        empty_label="No calendar: clock hours, every day",
    )
    escalation_policy = forms.ModelChoiceField(
        queryset=EscalationPolicy.objects.order_by("name"), required=False, empty_label="No escalation"
    )
    priority = forms.IntegerField(
        min_value=0, initial=100, help_text="Lower wins among equally specific definitions."
    )
    active = forms.BooleanField(required=False, initial=True)


class EscalationPolicyForm(ObjectForm):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class EscalationStepForm(ObjectForm):
    after_hours = forms.IntegerField(
        min_value=1, label="After (business hours)", help_text="Since the task was opened."
    )
    action = forms.ChoiceField(choices=EscalationAction.choices)
    queue = forms.ModelChoiceField(
        queryset=Queue.objects.order_by("name"), required=False, help_text="For “Escalate to a queue”."
    )
    users = forms.CharField(
        required=False,
        label="Users",
        help_text="Usernames, separated by commas or spaces: for “Escalate to named users”, and for "
        "“Escalate to the next approver” when the request has no next approval level.",
    )
    keep_assignees = forms.BooleanField(
        required=False,
        initial=True,
        label="Keep the current resolvers",
        help_text="Unticked, the new resolvers replace them.",
    )
    position = forms.IntegerField(
        min_value=1, required=False, help_text="Order in the list. Empty: after the last step."
    )

    @classmethod
    def initial_from(cls, step: EscalationStep) -> dict[str, Any]:
        users = step.users.order_by("username").values_list("username", flat=True)
        return {**super().initial_from(step), "users": ", ".join(users)}

    def clean_users(self) -> list[User]:
        names = [n for n in re.split(r"[\s,;]+", self.cleaned_data.get("users") or "") if n]
        if len(names) > 100:
            raise forms.ValidationError("At most 100 users.")
        found = {u.username: u for u in User.objects.filter(username__in=names)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise forms.ValidationError(f"Unknown user(s): {', '.join(unknown)}.")
        return [found[n] for n in dict.fromkeys(names)]

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if data.get("position") is None:
            data.pop("position", None)
        return data
