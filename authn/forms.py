"""Forms of the login steps, the workspace security pages and the policy console: they check
the shape of the input; the flow and the services check the rules."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.utils.translation import gettext_lazy as _

from authn.models import AuthenticationPolicy, DeviceCondition, Factor, Outcome
from directory.models import Organization


class LoginForm(forms.Form):
    username = forms.CharField(
        max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class ForgotForm(forms.Form):
    username = forms.CharField(max_length=150)


class PolicyForm(forms.ModelForm):
    class Meta:
        model = AuthenticationPolicy
        fields = [
            "name",
            "description",
            "priority",
            "is_default",
            "organization",
            "attribute_name",
            "attribute_value",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        labels = {
            "name": _("Name"),
            "description": _("Description"),
            "priority": _("Priority"),
            "is_default": _("Default policy (applies to everyone no other policy matches)"),
            "organization": _("Organization"),
            "attribute_name": _("Attribute name"),
            "attribute_value": _("Attribute value"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        organization = self.fields["organization"]
        assert isinstance(organization, forms.ModelChoiceField)  # the model's foreign key
        organization.queryset = Organization.objects.order_by("name")

    def _post_clean(self) -> None:
        # The service validates names, the single default and the rules (and moves the
        # default); the model's own constraint checks would refuse a new default too early.
        return None


def _timezones() -> list[tuple[str, str]]:
    return [(z, z) for z in sorted(available_timezones())]


class RuleForm(forms.Form):
    networks = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "10.0.0.0/8"}),
        help_text=_("Source networks, one CIDR per line (empty: any network)."),
    )
    time_start = forms.TimeField(required=False, help_text=_("Window start, HH:MM (empty: any time)."))
    time_end = forms.TimeField(required=False, help_text=_("Window end, HH:MM (exclusive)."))
    timezone = forms.ChoiceField(choices=_timezones, initial="UTC")
    device = forms.ChoiceField(choices=DeviceCondition.choices, required=False, initial="")
    failures_at_least = forms.IntegerField(required=False, min_value=1, label=_("At least N recent failures"))
    failures_minutes = forms.IntegerField(required=False, min_value=1, label=_("…in the last M minutes"))
    outcome = forms.ChoiceField(choices=Outcome.choices, initial=Outcome.ALLOW)
    factors = forms.MultipleChoiceField(
        choices=Factor.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Asked in this order."),
    )

    def clean_networks(self) -> list[str]:
        return [
            line.strip()
            for line in self.cleaned_data["networks"].replace(",", "\n").splitlines()
            if line.strip()
        ]

    def clean_factors(self) -> list[str]:
        chosen = set(self.cleaned_data["factors"])
        return [v for v in Factor.values if v in chosen]

    def as_rule(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "networks": d["networks"],
            "time_start": d["time_start"],
            "time_end": d["time_end"],
            "timezone": d["timezone"] or "UTC",
            "device": d["device"] or "",
            "failures_at_least": d["failures_at_least"],
            "failures_minutes": d["failures_minutes"],
            "outcome": d["outcome"],
            "factors": d["factors"],
        }


RuleFormSet = forms.formset_factory(
    RuleForm, extra=1, can_delete=True, can_order=True, max_num=20, validate_max=True
)


def rule_initial(rule: Any) -> dict[str, Any]:
    return {
        "networks": "\n".join(rule.networks),
        "time_start": rule.time_start,
        "time_end": rule.time_end,
        "timezone": rule.timezone,
        "device": rule.device,
        "failures_at_least": rule.failures_at_least,
        "failures_minutes": rule.failures_minutes,
        "outcome": rule.outcome,
        "factors": rule.factors,
    }


class PreviewForm(forms.Form):
    username = forms.CharField(max_length=150)
    ip = forms.GenericIPAddressField(label=_("Source IP"))
    at = forms.DateTimeField(label=_("Time (ISO, e.g. 2026-11-23T09:30+00:00)"))
    device_known = forms.BooleanField(required=False, label=_("Known device"))


class QuestionsForm(forms.Form):
    def __init__(self, *args: Any, count: int = 3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for i in range(count):
            self.fields[f"question_{i}"] = forms.CharField(
                max_length=300, label=_("Question %(n)s") % {"n": i + 1}
            )
            self.fields[f"answer_{i}"] = forms.CharField(
                max_length=300,
                label=_("Answer %(n)s") % {"n": i + 1},
                widget=forms.PasswordInput(render_value=False),
            )
        self.count = count

    def pairs(self) -> list[tuple[str, str]]:
        return [
            (self.cleaned_data[f"question_{i}"], self.cleaned_data[f"answer_{i}"]) for i in range(self.count)
        ]
