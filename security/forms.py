"""Console form of the security settings: shape and ranges; the service checks the rest."""

from __future__ import annotations

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from security.models import SecuritySettings
from security.services.bruteforce import SETTINGS_FIELDS

# fields that must be at least 1 (a threshold or window of 0 would lock everyone out)
_AT_LEAST_ONE = {
    "ip_failure_threshold",
    "ip_failure_window_minutes",
    "ip_username_threshold",
    "ip_username_window_minutes",
    "account_ip_threshold",
    "account_ip_window_minutes",
    "account_failure_threshold",
    "account_failure_window_minutes",
    "ip_throttle_seconds",
    "account_lock_seconds",
    "account_lock_max_seconds",
    "attempt_retention_days",
    "session_idle_minutes",
    "session_absolute_hours",
}


class SecuritySettingsForm(forms.ModelForm):
    class Meta:
        model = SecuritySettings
        fields = SETTINGS_FIELDS
        labels = {
            "ip_failure_threshold": _("Failed logins from one IP"),
            "ip_failure_window_minutes": _("… within (minutes)"),
            "ip_username_threshold": _("Different usernames from one IP"),
            "ip_username_window_minutes": _("… within (minutes)"),
            "account_ip_threshold": _("Different IPs failing for one account"),
            "account_ip_window_minutes": _("… within (minutes)"),
            "account_failure_threshold": _("Failed logins for one account"),
            "account_failure_window_minutes": _("… within (minutes)"),
            "ip_throttle_seconds": _("IP throttle, first time (seconds)"),
            "account_lock_seconds": _("Account lock, first time (seconds)"),
            "account_lock_max_seconds": _("Account lock, longest (seconds)"),
            "alert_emails": _("E-mail alerts to administrators"),
            "attempt_retention_days": _("Keep login attempts (days)"),
            "session_idle_minutes": _("Session idle timeout (minutes; empty: environment)"),
            "session_absolute_hours": _("Session absolute timeout (hours; empty: environment)"),
            "session_bind_ip_prefix": _(
                "Bind sessions to the client network: IPv4 prefix (0 = off; empty: environment)"
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name in _AT_LEAST_ONE:
                field.validators.append(MinValueValidator(1))
                field.widget.attrs["min"] = 1
        self.fields["session_bind_ip_prefix"].validators.append(MaxValueValidator(32))
        self.fields["session_bind_ip_prefix"].widget.attrs["max"] = 32

    def clean(self):
        data = super().clean()
        base, longest = data.get("account_lock_seconds"), data.get("account_lock_max_seconds")
        if base and longest and longest < base:
            self.add_error("account_lock_max_seconds", _("Must be at least the first lock's length."))
        return data
