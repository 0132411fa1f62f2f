"""The console dashboard's SoD tile: open violations by severity (detective SoD), the ones
accepted under an exception, and the exceptions ending within two weeks (one grouped query
and one count)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone

from blazon.panels import CONSOLE_DASHBOARD, register_panel
from blazon.permissions import can
from sod.models import Severity, SoDException, SoDViolation, ViolationStatus

SOON = timedelta(days=14)


def sod_panel(user: Any) -> dict[str, Any] | None:
    if not can(user, "view"):
        return None
    counts = {
        (r["status"], r["rule__severity"]): r["n"]
        for r in SoDViolation.objects.exclude(status=ViolationStatus.RESOLVED)
        .values("status", "rule__severity")
        .annotate(n=Count("pk"))
    }
    by_severity = [
        (value, label, counts.get((ViolationStatus.OPEN, value), 0))
        for value, label in reversed(Severity.choices)
    ]
    now = timezone.now()
    return {
        "open": sum(n for _, _, n in by_severity),
        "by_severity": by_severity,
        "accepted": sum(n for (status, _), n in counts.items() if status == ViolationStatus.ACCEPTED),
        "expiring": SoDException.objects.filter(
            revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=now + SOON
        ).count(),
    }


def register() -> None:
    register_panel(CONSOLE_DASHBOARD, "sod", order=40, template="console/dashboard/sod.html", build=sod_panel)
