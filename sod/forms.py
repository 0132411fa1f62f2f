"""Console form of an SoD rule: the sides are written one item reference per line."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from directory.models import Organization, Role, User
from sod.models import AssignmentPolicy, Severity, SoDRule
from sod.services.rules import rule_sides

REF_HELP = _("One per line: entitlement:<resource code>/<identifier>, role:<code> or resource:<code>.")


class SoDRuleForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=64)
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    severity = forms.ChoiceField(label=_("Severity"), choices=Severity.choices, initial=Severity.HIGH)
    owner = forms.ModelChoiceField(
        label=_("Owner"),
        queryset=User.objects.filter(status="ACTIVE").order_by("username"),
        required=False,
        to_field_name="username",
        help_text=_("Approves exceptions. Empty: a console administrator decides."),
    )
    mitigating_controls = forms.CharField(
        label=_("Mitigating controls"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    evidence_url = forms.URLField(
        label=_("Evidence url"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=_("Where the controls' evidence is."),
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    side_a = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text=REF_HELP, label=_("Side A"))
    side_b = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text=REF_HELP, label=_("Side B"))
    side_c = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Side C (optional)")
    )
    side_d = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Side D (optional)")
    )

    @classmethod
    def initial_from(cls, rule: SoDRule) -> dict[str, Any]:
        sides = rule_sides(rule) + [[] for _ in range(4)]
        return {
            "code": rule.code,
            "name": rule.name,
            "description": rule.description,
            "severity": rule.severity,
            "owner": rule.owner.username if rule.owner else None,
            "mitigating_controls": rule.mitigating_controls,
            "evidence_url": rule.evidence_url,
            "active": rule.active,
            **{f"side_{x}": "\n".join(sides[i]) for i, x in enumerate("abcd")},
        }

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["sides"] = [
            [line.strip() for line in (data.pop(f"side_{x}") or "").splitlines() if line.strip()]
            for x in "abcd"
        ]
        return data


class SoDImportForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("CSV with the header of the export."))


class AssignmentPolicyForm(forms.Form):
    """An assignment policy; attributes are written one ``name=value`` per line."""

    code = forms.SlugField(label=_("Code"), max_length=64)
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    role = forms.ModelChoiceField(
        label=_("Role"), queryset=Role.objects.order_by("name"), to_field_name="code"
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    organization = forms.ModelChoiceField(
        label=_("Organization"),
        queryset=Organization.objects.order_by("name"),
        required=False,
        to_field_name="code",
    )
    include_sub_organizations = forms.BooleanField(label=_("Include sub organizations"), required=False)
    department = forms.CharField(label=_("Department"), required=False, max_length=200)
    job_title = forms.CharField(label=_("Job title"), required=False, max_length=200)
    employee_type = forms.CharField(label=_("Employee type"), required=False, max_length=60)
    attributes = forms.CharField(
        label=_("Attributes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Administrator-defined attributes, one name=value per line."),
    )

    @classmethod
    def initial_from(cls, policy: AssignmentPolicy) -> dict[str, Any]:
        return {
            **{
                name: getattr(policy, name)
                for name in ("code", "name", "description", "active", "include_sub_organizations")
            },
            **{name: getattr(policy, name) for name in ("department", "job_title", "employee_type")},
            "role": policy.role.code,
            "organization": policy.organization.code if policy.organization else None,
            "attributes": "\n".join(f"{k}={v}" for k, v in sorted((policy.attributes or {}).items())),
        }

    def clean_attributes(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in (self.cleaned_data.get("attributes") or "").splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise forms.ValidationError(
                    gettext("Write name=value, not %(line)r.") % {"line": line.strip()}
                )
            out[key.strip()] = value.strip()
        return out
