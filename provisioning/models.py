"""Provisioning entries: the outbox of changes the applications must receive (seed 002,
"Provisionamento"). The directory writes them in its transaction; resource adapters pull them
(the pull API and connectors come with the provisioning issue)."""

from __future__ import annotations

from django.db import models

from directory.models import ProvisioningEvent, ProvisioningMode


class EntryStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    PULLED = "PULLED", "Pulled by adapter"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"
    WAITING_FAILOVER_RESOLVING = "WAITING_FAILOVER_RESOLVING", "Waiting manual resolution"
    CANCELED = "CANCELED", "Canceled"


class ProvisioningEntry(models.Model):
    """One change an application must receive: create/revoke an account, grant an entitlement…"""

    resource = models.ForeignKey(
        "directory.Resource", on_delete=models.PROTECT, related_name="provisioning_entries"
    )
    event_type = models.CharField(max_length=24, choices=ProvisioningEvent.choices)
    mode = models.CharField(max_length=10, choices=ProvisioningMode.choices)
    status = models.CharField(
        max_length=30, choices=EntryStatus.choices, default=EntryStatus.PENDING, db_index=True
    )
    account = models.ForeignKey(
        "directory.Account",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provisioning_entries",
    )
    entitlement = models.ForeignKey(
        "directory.Entitlement",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provisioning_entries",
    )
    user_id_ref = models.BigIntegerField(null=True, blank=True, db_index=True)
    payload = models.JSONField(
        default=dict, blank=True, help_text="Identifiers the adapter needs; never secrets."
    )
    correlation_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["resource", "status", "id"])]
        verbose_name_plural = "provisioning entries"

    def __str__(self) -> str:
        return f"{self.event_type} on {self.resource_id} ({self.status})"
