"""Read queries of SIEM forwarding, shared by the console and the API (every console role
reads them; the secrets are never read here)."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Greatest

from blazon.audit.models import AuditChainHead
from siem.models import SiemDestination


def destinations_for(user: Any) -> QuerySet[SiemDestination]:
    """Destinations with ``backlog``: how many audit events were written after the cursor (an
    upper bound when the destination forwards only some actions)."""
    head = Subquery(AuditChainHead.objects.filter(pk=1).values("seq")[:1])
    return SiemDestination.objects.annotate(
        backlog=Greatest(Coalesce(head, Value(0)) - F("cursor"), Value(0))
    ).order_by("name")


def destination_status_lines() -> list[str]:
    """``manage.py status``: one line per destination (enabled, backlog, last success, last error)."""
    lines = []
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    rows = SiemDestination.objects.order_by("name").values(
        "name", "enabled", "cursor", "last_success_at", "last_error"
    )
    for d in rows:
        state = "enabled" if d["enabled"] else "disabled"
        success = d["last_success_at"].isoformat(timespec="seconds") if d["last_success_at"] else "never"
        error = f" [failing: {d['last_error']}]" if d["last_error"] else ""
        lines.append(
            f"{d['name']:<32} {state}, backlog {max(head - d['cursor'], 0)}, last success {success}{error}"
        )
    return lines or ["no destinations"]
