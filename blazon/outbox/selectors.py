"""Reads of the outbox for the console, ``/readyz`` and ``manage.py status``."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from blazon.outbox.models import OutboxMessage, OutboxStatus
from blazon.outbox.services import outbox_relay


def dead_letters() -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.filter(status=OutboxStatus.DEAD).order_by("-done_at", "-pk")


def outbox_stuck_count(older_than: datetime) -> int:
    """Outbox rows still PENDING that were written before ``older_than``."""
    return OutboxMessage.objects.filter(status=OutboxStatus.PENDING, created_at__lt=older_than).count()


def outbox_redrive(older_than: datetime, limit: int) -> int:
    """Stuck outbox rows are the relay's: hand out the due ones now."""

    return outbox_relay(limit=limit)
