"""Console forms of the request policies: they turn the input into the shapes the services take
(lists, objects, users); ``requests_workflow.services.policies`` checks the rules."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from blazon.console import ObjectForm
from directory.models import Criticality, Entitlement, Resource, Role, User, UserStatus
from requests_workflow.models import (
    ApprovalLevel,
    ApprovalPolicy,
    ApproverKind,
    RequesterScope,
    RequestType,
    RuleOperator,
    ValidationPolicy,
)
from worklist.models import ApprovalMode, Queue

OPERATOR_SIGNS = {
    "!=": RuleOperator.NOT_EQUALS,
    " in ": RuleOperator.IN,
    "~": RuleOperator.REGEX,
    "=": RuleOperator.EQUALS,
}


def _lines(value: str) -> list[str]:
    return [
        line.strip()
        for line in (value or "").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


class _PolicyForm(ObjectForm):
    """Name, priority and the object scope both kinds of policy share."""

    name = forms.CharField(max_length=200, label=_("Name"))
    priority = forms.IntegerField(min_value=0, initial=100, help_text=_("Lower first."), label=_("Priority"))
    active = forms.BooleanField(required=False, initial=True, label=_("Active"))
    request_types = forms.MultipleChoiceField(
        choices=RequestType.choices,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("None selected = every type."),
        label=_("Request types"),
    )
    resource = forms.ModelChoiceField(
        queryset=Resource.objects.order_by("name"),
        required=False,
        help_text=_("Empty = any."),
        label=_("Resource"),
    )
    entitlement = forms.ModelChoiceField(
        queryset=Entitlement.objects.select_related("resource").order_by("resource__name", "name"),
        required=False,
        help_text=_("Empty = any."),
        label=_("Entitlement"),
    )
    role = forms.ModelChoiceField(
        queryset=Role.objects.order_by("name"), required=False, help_text=_("Empty = any."), label=_("Role")
    )


class ApprovalPolicyForm(_PolicyForm):
    criticality = forms.ChoiceField(
        choices=[("", _("Any")), *Criticality.choices],
        required=False,
        help_text=_("Of the entitlement, else the role, else the resource."),
        label=_("Criticality"),
    )
    beneficiary_conditions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label=_("Beneficiary conditions"),
        help_text=_(
            "One attribute=value per line (user fields, organization code, manager username, custom "
            'attributes), or a JSON object such as {"department": "Finance"}. Empty = anyone.'
        ),
    )

    @classmethod
    def initial_from(cls, policy: ApprovalPolicy) -> dict[str, Any]:
        conditions = sorted((policy.beneficiary_conditions or {}).items())
        text = "\n".join(f"{k}={v}" for k, v in conditions)
        return {**super().initial_from(policy), "beneficiary_conditions": text}

    def clean_beneficiary_conditions(self) -> dict[str, Any]:
        text = (self.cleaned_data.get("beneficiary_conditions") or "").strip()
        if not text:
            return {}
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise forms.ValidationError(gettext("Not valid JSON: %(error)s.") % {"error": exc}) from None
            if not isinstance(value, dict):
                raise forms.ValidationError(gettext("A JSON object of attribute → value."))
            return value
        out: dict[str, Any] = {}
        for line in _lines(text):
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(gettext("Write attribute=value: %(line)r.") % {"line": line})
            out[name.strip()] = value.strip()
        return out


class ApprovalLevelForm(ObjectForm):
    approver_kind = forms.ChoiceField(choices=ApproverKind.choices, label=_("Approvers"))
    mode = forms.ChoiceField(choices=ApprovalMode.choices, initial=ApprovalMode.ANY, label=_("Mode"))
    users = forms.CharField(
        required=False,
        label=_("Named users"),
        help_text=_("For named users: their usernames, separated by commas or spaces."),
    )
    queue = forms.ModelChoiceField(
        queryset=Queue.objects.order_by("name"),
        required=False,
        help_text=_("For a queue: which one."),
        label=_("Queue"),
    )

    @classmethod
    def initial_from(cls, level: ApprovalLevel) -> dict[str, Any]:
        users = sorted(level.users.values_list("username", flat=True))
        return {**super().initial_from(level), "users": ", ".join(users)}

    def clean_users(self) -> list[User]:
        names = [n for n in (self.cleaned_data.get("users") or "").replace(",", " ").split() if n]
        found = {u.username: u for u in User.objects.filter(username__in=names)}
        missing = [n for n in names if n not in found]
        if missing:
            raise forms.ValidationError(
                gettext("No user with the username %(usernames)s.") % {"usernames": ", ".join(missing)}
            )
        return [found[n] for n in dict.fromkeys(names)]


class ValidationPolicyForm(_PolicyForm):
    justification_required = forms.BooleanField(required=False, label=_("Justification required"))
    justification_min_length = forms.IntegerField(
        min_value=0,
        initial=0,
        label=_("Justification: at least (characters)"),
        help_text=_("0 = any length."),
    )
    requester_scope = forms.ChoiceField(
        choices=RequesterScope.choices,
        required=False,
        label=_("Who may request"),
        help_text=_("On top of the built-in rule, which always applies."),
    )
    beneficiary_rules = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label=_("Beneficiary rules"),
        help_text=_(
            "One per line: attribute=value, attribute!=value, attribute in A,B,C or attribute~pattern "
            "(a regular expression the whole value must match). E.g. employee_type=EMPLOYEE."
        ),
    )
    beneficiary_statuses = forms.MultipleChoiceField(
        choices=UserStatus.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None = what the request type allows."),
        label=_("Beneficiary statuses"),
    )
    max_period_days = forms.IntegerField(
        min_value=1,
        required=False,
        label=_("Longest access period (days)"),
        help_text=_(
            "Time-bound requests (accounts, entitlements, roles) must end within it. Empty = no limit."
        ),
    )

    @classmethod
    def initial_from(cls, policy: ValidationPolicy) -> dict[str, Any]:
        rules = "\n".join(rule_line(r) for r in policy.beneficiary_rules or [])
        return {**super().initial_from(policy), "beneficiary_rules": rules}

    def clean_justification_min_length(self) -> int:
        return self.cleaned_data.get("justification_min_length") or 0

    def clean_beneficiary_rules(self) -> list[dict[str, Any]]:
        rules = []
        for line in _lines(self.cleaned_data.get("beneficiary_rules") or ""):
            # the sign that comes first splits the line, so values may hold "=" or " in "
            found = [(line.find(sign), sign) for sign in OPERATOR_SIGNS if sign in line]
            if not found:
                raise forms.ValidationError(
                    gettext(
                        "Write attribute=value, attribute!=value, attribute in A,B or attribute~pattern: %(line)r."
                    )
                    % {"line": line}
                )
            _, sign = min(found)
            name, _, value = line.partition(sign)
            rules.append(
                {"attribute": name.strip(), "operator": OPERATOR_SIGNS[sign], "value": value.strip()}
            )
        return rules


def rule_line(rule: dict[str, Any]) -> str:
    """A stored rule in the form's one-line notation."""
    value = rule.get("value")
    shown = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    sign = {RuleOperator.NOT_EQUALS: "!=", RuleOperator.IN: " in ", RuleOperator.REGEX: "~"}.get(
        rule.get("operator"), "="
    )
    return f"{rule.get('attribute')}{sign}{shown}"


class PolicyPreviewForm(forms.Form):
    """A request sketched in the console to see which policies would apply (nothing is saved)."""

    request_type = forms.ChoiceField(choices=RequestType.choices, label=_("Type"))
    beneficiary = forms.CharField(required=False, help_text=_("Username."), label=_("Beneficiary"))
    resource = forms.ModelChoiceField(
        queryset=Resource.objects.order_by("name"), required=False, label=_("Resource")
    )
    entitlement = forms.ModelChoiceField(
        queryset=Entitlement.objects.select_related("resource").order_by("resource__name", "name"),
        required=False,
        label=_("Entitlement"),
    )
    role = forms.ModelChoiceField(queryset=Role.objects.order_by("name"), required=False, label=_("Role"))

    def clean_beneficiary(self) -> User | None:
        name = (self.cleaned_data.get("beneficiary") or "").strip()
        if not name:
            return None
        user = User.objects.select_related("organization", "manager").filter(username=name).first()
        if user is None:
            raise forms.ValidationError(
                gettext("No user with the username %(username)r.") % {"username": name}
            )
        return user
