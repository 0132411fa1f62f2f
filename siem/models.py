"""Where the audit log is forwarded: SIEM destinations and their cursors.

A destination reads the audit chain (``blazon.audit``) in ``seq`` order and sends what it has
not sent yet; ``cursor`` is the last ``seq`` a receiver accepted. Secrets (a webhook's header
value, a TLS client key) are in the vault (``secret``), never in these columns.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Transport(models.TextChoices):
    SYSLOG_UDP = "syslog-udp", _("Syslog over UDP (RFC 5426)")
    SYSLOG_TCP = "syslog-tcp", _("Syslog over TCP (RFC 6587, octet counting)")
    SYSLOG_TLS = "syslog-tls", _("Syslog over TLS (RFC 5425)")
    WEBHOOK_HTTPS = "webhook-https", _("JSON to an HTTPS webhook")


class Format(models.TextChoices):
    RFC5424 = "rfc5424", _("RFC 5424, the event as JSON in MSG")
    CEF = "cef", _("CEF (ArcSight Common Event Format)")


SYSLOG_TRANSPORTS = (Transport.SYSLOG_UDP, Transport.SYSLOG_TCP, Transport.SYSLOG_TLS)


class SiemDestination(models.Model):
    """A SIEM (or log collector) that receives every audit event, in order, at least once."""

    name = models.CharField(max_length=100, unique=True)
    transport = models.CharField(max_length=20, choices=Transport.choices)
    format = models.CharField(
        max_length=10, choices=Format.choices, default=Format.RFC5424, help_text="Syslog transports only."
    )
    host = models.CharField(max_length=253, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="The webhook's https:// URL.")
    ca_cert = models.TextField(
        blank=True, help_text="PEM CA certificate(s) the receiver's certificate is checked against."
    )
    client_cert = models.TextField(blank=True, help_text="PEM client certificate (its key is in the vault).")
    secret_header = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the webhook's secret header (its value is in the vault).",
    )
    secret = models.ForeignKey(
        "vault.Secret",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Vault secret holding the header value and/or the TLS client key (JSON).",
    )
    secret_keys = models.JSONField(default=list, blank=True, help_text="Which secrets the vault holds.")
    enabled = models.BooleanField(default=True)
    action_prefix = models.CharField(
        max_length=80, blank=True, help_text="Forward only events whose action starts with this."
    )
    cursor = models.BigIntegerField(default=0, help_text="Last audit seq the receiver accepted.")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Failed runs in a row (back-off).")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(cursor__gte=0), name="siem_destination_cursor_not_negative"),
            models.CheckConstraint(
                condition=Q(port__isnull=True) | Q(port__gte=1, port__lte=65535),
                name="siem_destination_port_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name
