"""The console dashboard's provisioning backlog: what the applications have not been told yet,
by resource and by age (one grouped query)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from blazon.panels import CONSOLE_DASHBOARD, register_panel
from blazon.permissions import can
from provisioning.models import OPEN_STATUSES, ProvisioningEntry

#: The age buckets of the backlog (upper bounds), as the table's columns.
AGES = ((_("under 1 h"), timedelta(hours=1)), (_("1 h – 24 h"), timedelta(days=1)), (_("over 24 h"), None))


def backlog_panel(user: Any) -> dict[str, Any] | None:
    if not can(user, "view"):
        return None
    now = timezone.now()
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    rows = list(
        ProvisioningEntry.objects.filter(status__in=OPEN_STATUSES)
        .values("resource_id", "resource__name")
        .annotate(
            total=Count("pk"),
            fresh=Count("pk", filter=Q(created_at__gte=hour)),
            day=Count("pk", filter=Q(created_at__lt=hour, created_at__gte=day)),
            old=Count("pk", filter=Q(created_at__lt=day)),
            oldest=Min("created_at"),
        )
        .order_by("-total", "resource__name")[:12]
    )
    return {"rows": rows, "total": sum(r["total"] for r in rows), "ages": [a for a, _ in AGES]}


def register() -> None:
    register_panel(
        CONSOLE_DASHBOARD, "provisioning_backlog", order=20,
        template="console/dashboard/provisioning_backlog.html", build=backlog_panel,
    )  # fmt: skip
