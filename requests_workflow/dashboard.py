"""The console dashboard's requests per day by status (the last two weeks, one grouped query)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from blazon.panels import CONSOLE_DASHBOARD, register_panel
from blazon.permissions import can
from requests_workflow.models import Request, RequestStatus

DAYS = 14
#: The statuses the chart stacks, grouped as an administrator reads them.
GROUPS = (
    (_("Finished"), (RequestStatus.FINISHED,)),
    (_("In flight"), (RequestStatus.NEW, RequestStatus.APPROVED, RequestStatus.WAITING_PROVISIONING)),
    (_("Waiting approval"), (RequestStatus.WAITING_APPROVAL, RequestStatus.WAITING_SOD_APPROVAL)),
    (_("Rejected or canceled"), (RequestStatus.REJECTED, RequestStatus.CANCELED)),
    (_("Failed"), (RequestStatus.FAILED,)),
)


def requests_panel(user: Any) -> dict[str, Any] | None:
    if not can(user, "view"):
        return None
    today = timezone.localdate()
    first = today - timedelta(days=DAYS - 1)
    counts: dict[tuple[Any, str], int] = {}
    rows = (
        Request.objects.filter(created_at__date__gte=first)
        .annotate(day=TruncDate("created_at"))
        .values("day", "status")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        counts[(row["day"], row["status"])] = row["n"]
    days = [first + timedelta(days=i) for i in range(DAYS)]
    datasets = [
        {"label": label, "data": [sum(counts.get((d, s), 0) for s in statuses) for d in days]}
        for label, statuses in GROUPS
    ]
    total = sum(sum(ds["data"]) for ds in datasets)
    return {
        "total": total,
        "days": DAYS,
        "chart": {"labels": [d.strftime("%d/%m") for d in days], "datasets": datasets},
        "by_group": [
            (label, sum(ds["data"]), statuses[0])
            for (label, statuses), ds in zip(GROUPS, datasets, strict=True)
        ],
    }


def register() -> None:
    register_panel(
        CONSOLE_DASHBOARD, "requests_per_day", order=10, template="console/dashboard/requests_per_day.html",
        build=requests_panel,
    )  # fmt: skip
