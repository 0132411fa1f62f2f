"""Console form of a SIEM destination. The secrets are password boxes that never show the
stored value: empty leaves it unchanged, "Remove the secrets" clears them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from blazon.console import ObjectForm
from siem.models import Format, Transport

PEM = forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})


class SiemDestinationForm(ObjectForm):
    name = forms.CharField(max_length=100, label=_("Name"))
    transport = forms.ChoiceField(choices=Transport.choices, label=_("Transport"))
    format = forms.ChoiceField(
        choices=Format.choices,
        initial=Format.RFC5424,
        label=_("Format"),
        help_text=_("Syslog transports only."),
    )
    host = forms.CharField(
        required=False,
        max_length=253,
        label=_("Host"),
        help_text=_("Syslog: the receiver's host name or IP address."),
    )
    port = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=65535,
        label=_("Port"),
        help_text=_("Syslog: e.g. 514 (UDP/TCP), 6514 (TLS)."),
    )
    url = forms.CharField(
        required=False, max_length=500, label=_("Webhook URL"), help_text=_("https:// only.")
    )
    secret_header = forms.CharField(
        required=False,
        max_length=100,
        label=_("Secret header"),
        help_text=_("Webhook: e.g. Authorization."),
    )
    header_value = forms.CharField(
        required=False,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False),
        label=_("Secret header value"),
        help_text=_("Kept in the vault, never shown. Empty: unchanged."),
    )
    ca_cert = forms.CharField(
        required=False,
        widget=PEM,
        label=_("CA certificate (PEM)"),
        help_text=_("TLS and webhook. Empty: the system's CAs."),
    )
    client_cert = forms.CharField(required=False, widget=PEM, label=_("Client certificate (PEM)"))
    client_key = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        label=_("Client key (PEM)"),
        help_text=_("Kept in the vault, never shown. Empty: unchanged."),
    )
    clear_secrets = forms.BooleanField(required=False, label=_("Remove the stored secrets"))
    action_prefix = forms.CharField(
        required=False,
        max_length=80,
        label=_("Action prefix"),
        help_text=_("Forward only actions starting with this."),
    )
    enabled = forms.BooleanField(required=False, initial=True, label=_("Enabled"))

    @classmethod
    def initial_from(cls, obj: Any) -> dict[str, Any]:
        initial = super().initial_from(obj)
        for name in ("header_value", "client_key", "clear_secrets"):
            initial.pop(name, None)
        return initial

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        clear = data.pop("clear_secrets", False)
        for name in ("header_value", "client_key"):
            if clear:
                data[name] = ""
            elif not data.get(name):
                data.pop(name, None)
        return data
