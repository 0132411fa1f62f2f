"""Console forms of provisioning. The services check the values (ranges, order) and their
refusals come back on these fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from provisioning.models import ResourceRetryPolicy

RETRY_FIELDS = ("max_transient_failures", "backoff_seconds", "backoff_max_seconds")


class RetryPolicyForm(forms.Form):
    """A resource's retry policy after transient failures; an empty box means the default."""

    max_transient_failures = forms.CharField(
        required=False,
        label="Transient failures before manual resolution",
        widget=forms.NumberInput(attrs={"min": 1, "max": 100}),
    )
    backoff_seconds = forms.CharField(
        required=False,
        label="First delay, seconds",
        help_text="Default 30, doubling.",
        widget=forms.NumberInput(attrs={"min": 1}),
    )
    backoff_max_seconds = forms.CharField(
        required=False,
        label="Longest delay, seconds",
        help_text="Default 3600.",
        widget=forms.NumberInput(attrs={"min": 1}),
    )

    def __init__(self, *args: Any, policy: ResourceRetryPolicy | None, **kwargs: Any) -> None:
        super().__init__(*args, initial={f: getattr(policy, f, None) for f in RETRY_FIELDS}, **kwargs)
        default = settings.BLAZON_ADAPTER_MAX_TRANSIENT_FAILURES
        self.fields["max_transient_failures"].help_text = f"Default {default}."
