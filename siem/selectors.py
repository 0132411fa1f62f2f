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
