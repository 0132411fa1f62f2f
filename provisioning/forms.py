"""Console forms of provisioning. The services check the values (ranges, order) and their
refusals come back on these fields."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from directory.models import Resource
from provisioning.models import ConnectorType, InProcessAdapter, ResourceRetryPolicy
from provisioning.services.inprocess import SECRET_SETTINGS

RETRY_FIELDS = ("max_transient_failures", "backoff_seconds", "backoff_max_seconds")


class RetryPolicyForm(forms.Form):
    """A resource's retry policy after transient failures; an empty box means the default."""

    max_transient_failures = forms.CharField(
        required=False,
        label=_("Transient failures before manual resolution"),
        widget=forms.NumberInput(attrs={"min": 1, "max": 100}),
    )
    backoff_seconds = forms.CharField(
        required=False,
        label=_("First delay, seconds"),
        help_text=_("Default 30, doubling."),
        widget=forms.NumberInput(attrs={"min": 1}),
    )
    backoff_max_seconds = forms.CharField(
        required=False,
        label=_("Longest delay, seconds"),
        help_text=_("Default 3600."),
        widget=forms.NumberInput(attrs={"min": 1}),
    )

    def __init__(self, *args: Any, policy: ResourceRetryPolicy | None, **kwargs: Any) -> None:
        super().__init__(*args, initial={f: getattr(policy, f, None) for f in RETRY_FIELDS}, **kwargs)
        default = settings.BLAZON_ADAPTER_MAX_TRANSIENT_FAILURES
        self.fields["max_transient_failures"].help_text = gettext("Default %(default)s.") % {
            "default": default
        }


class InProcessAdapterForm(forms.Form):
    """A resource's in-process adapter: connector type, its settings as JSON, and a password box
    per secret setting of each connector type (the page shows those of the chosen type); a
    stored secret is never shown back and an empty box keeps it."""

    connector_type = forms.ChoiceField(
        choices=ConnectorType.choices, label=_("Connector"), widget=forms.Select(attrs={"id": "ctype"})
    )
    settings = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10, "id": "csettings"}), required=False, label=_("Settings")
    )
    clear_secret = forms.MultipleChoiceField(required=False, label=_("Clear secret"))
    initial_passwords = forms.BooleanField(required=False, label=_("Initial passwords"))
    enabled = forms.BooleanField(required=False, label=_("Enabled"))

    def __init__(self, data: Any, *, resource: Resource, adapter: InProcessAdapter | None) -> None:
        initial = {
            "connector_type": adapter.connector_type if adapter else ConnectorType.CSV,
            "settings": json.dumps(adapter.settings if adapter else {"directory": resource.code}, indent=2),
            "initial_passwords": adapter.initial_passwords if adapter else False,
            "enabled": adapter.enabled if adapter else True,
        }
        super().__init__(data, initial=initial)
        self.held = set(adapter.secret_keys) if adapter else set()
        clear = self.fields["clear_secret"]
        assert isinstance(clear, forms.MultipleChoiceField)  # declared above
        clear.choices = [(name, name) for name in sorted(self.held)]
        for names in SECRET_SETTINGS.values():
            for name in names:
                attrs = {"id": f"secret-{name}", "autocomplete": "new-password"}
                self.fields[f"secret_{name}"] = forms.CharField(
                    required=False, strip=False, widget=forms.PasswordInput(attrs=attrs)
                )

    def clean_settings(self) -> Any:
        text = self.cleaned_data["settings"]
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(gettext("Not valid JSON: %(error)s.") % {"error": exc}) from None

    def service_data(self) -> dict[str, Any]:
        """What ``inprocess_adapter_configure`` takes: the secret boxes of the chosen type only."""
        data = self.cleaned_data
        return {
            "connector_type": data["connector_type"],
            "settings": data["settings"],
            "secret_settings": {
                name: data[f"secret_{name}"] for name in SECRET_SETTINGS.get(data["connector_type"], ())
            },
            "clear_secrets": data["clear_secret"],
            "initial_passwords": data["initial_passwords"],
            "enabled": data["enabled"],
        }
