"""Append-only, hash-chained audit events.

Every state-changing service writes one (or, for bulk work, many) in the same transaction.
Each event stores the hash of the previous one, so altering or deleting a row breaks the
chain; ``manage.py verify_audit`` finds the first bad event. The hash is an HMAC with a key kept
out of the database (``blazon.audit.keys``), so the chain cannot be re-computed after an edit by
someone who can only write to the database; events written before the chain was keyed (empty
``key_id``) keep their plain SHA-256 and verify as "legacy".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One change: who did what to which object, before and after, from where."""

    seq = models.BigIntegerField(unique=True, help_text="Position in the hash chain, gap-free.")
    created_at = models.DateTimeField(db_index=True)
    # No database constraint and no cascade: an audit row is never rewritten (that would break
    # the hash chain), and a purged user's id stays here with ``actor_repr`` naming them.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_repr = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    # object_type/object_id are searched together: the composite index below serves both.
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300, blank=True)
    subject_user_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, help_text="The user this change concerns, for their history."
    )
    old_values = models.JSONField(null=True, blank=True)
    new_values = models.JSONField(null=True, blank=True)
    source = models.CharField(max_length=30)  # a handful of values: an index would not help
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    key_id = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text="Id of the chain key the hash was computed with; empty: legacy plain SHA-256.",
    )

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["object_type", "object_id", "-seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The single row holding the last sequence number and hash; locked while appending.

    ``mac`` authenticates (seq, hash) with the chain key ``key_id``: without the key, the head
    cannot be moved back to an earlier event after the newest events are deleted."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)
    key_id = models.CharField(max_length=32, blank=True, default="")
    mac = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"audit head #{self.seq}"
