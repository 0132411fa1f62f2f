"""Forms of the password pages: they check the shape of the input; the services check the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from passwords.models import PasswordChangePolicy, PasswordPolicy

ASSIGNMENT_FIELDS = ["name", "priority", "is_default", "organization", "attribute_name", "attribute_value"]
# The models' fields have no verbose_name: the labels Django would make, translatable.
ASSIGNMENT_LABELS = {
    "name": _("Name"),
    "priority": _("Priority"),
    "is_default": _("Is default"),
    "organization": _("Organization"),
    "attribute_name": _("Attribute name"),
    "attribute_value": _("Attribute value"),
}


class _PolicyForm(forms.ModelForm):
    def service_data(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class PasswordPolicyForm(_PolicyForm):
    class Meta:
        model = PasswordPolicy
        fields = [
            *ASSIGNMENT_FIELDS,
            "min_length",
            "require_lowercase",
            "require_uppercase",
            "require_digit",
            "require_symbol",
            "history_count",
            "max_age_days",
            "min_age_hours",
            "use_dictionary",
            "forbid_personal_info",
        ]
        labels = {
            **ASSIGNMENT_LABELS,
            "min_length": _("Min length"),
            "require_lowercase": _("Require lowercase"),
            "require_uppercase": _("Require uppercase"),
            "require_digit": _("Require digit"),
            "require_symbol": _("Require symbol"),
            "history_count": _("History count"),
            "max_age_days": _("Max age days"),
            "min_age_hours": _("Min age hours"),
            "use_dictionary": _("Use dictionary"),
            "forbid_personal_info": _("Forbid personal info"),
        }


class PasswordChangePolicyForm(_PolicyForm):
    class Meta:
        model = PasswordChangePolicy
        fields = [
            *ASSIGNMENT_FIELDS,
            "require_current",
            "recent_login_minutes",
            "notify_user",
            "min_interval_minutes",
        ]
        labels = {
            **ASSIGNMENT_LABELS,
            "recent_login_minutes": _("Recent login minutes"),
            "notify_user": _("Notify user"),
            "min_interval_minutes": _("Min interval minutes"),
        }


class WordsForm(forms.Form):
    words = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=20000,
        help_text=_("One word a line, or comma-separated."),
    )


class NewPasswordForm(forms.Form):
    new_password = forms.CharField(
        label=_("New password"),
        strip=False,
        max_length=1024,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    confirm_password = forms.CharField(
        label=_("Repeat the new password"),
        strip=False,
        max_length=1024,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("new_password") and data.get("confirm_password") != data.get("new_password"):
            self.add_error("confirm_password", _("The two passwords differ."))
        return data


class ChangePasswordForm(NewPasswordForm):
    current_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        required=False,
        max_length=1024,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["current_password", "new_password", "confirm_password"]
