"""The transactional outbox: work a transaction wants done after it commits, as rows written in
that same transaction (docs/deployment.md, "What survives what").

A row is the promise: once the business transaction has committed, its work is in the database
and nothing — a web process killed after the commit, a broker down, a worker killed mid-task —
can lose it. A relay hands due rows to Celery (in-process in embedded mode); a row whose work
has not completed by ``available_at`` is handed out again.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    DONE = "DONE", _("Done")
    SKIPPED = "SKIPPED", _("Skipped (object gone)")
    DEAD = "DEAD", _("Dead-lettered")


class OutboxMessage(models.Model):
    """One piece of work to do after a commit: a registered handler (``kind``) and its keyword
    arguments (ids, never objects). PENDING until a delivery completes it in the same
    transaction as the handler's writes (DONE), finds its object gone (SKIPPED), or has
    failed ``BLAZON_OUTBOX_MAX_ATTEMPTS`` times (DEAD, retried only by an administrator)."""

    kind = models.CharField(max_length=120)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    created_at = models.DateTimeField()
    #: When the relay may hand the row out (again): the lease of the current delivery, or the
    #: back-off after a failure.
    available_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [
            # the relay's scan and the lag read: pending rows by due time, nothing else
            models.Index(
                fields=["available_at"],
                name="outbox_pending_due",
                condition=models.Q(status="PENDING"),
            ),
            models.Index(fields=["status", "done_at"], name="outbox_status_done"),
        ]

    def __str__(self) -> str:
        return f"outbox #{self.pk} {self.kind} {self.status}"


class WorkCounter(models.Model):
    """A monotonic counter shared by every process (re-driven stuck work, dead letters, …),
    read by ``manage.py status``, ``/readyz`` and the console's dashboard."""

    name = models.CharField(max_length=120, primary_key=True)
    value = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
