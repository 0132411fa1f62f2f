"""The workspace home's "Reviews to do" panel: the accesses waiting for my decision in running
campaigns, by campaign, the soonest ending first (one grouped query)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Min

from blazon.panels import WORKSPACE_HOME, register_panel
from certification.models import CampaignStatus, Decision
from certification.selectors import reviewer_items


def reviews_panel(user: Any) -> dict[str, Any] | None:
    rows = list(
        reviewer_items(user)
        .filter(decision=Decision.NONE, campaign__status=CampaignStatus.RUNNING)
        .values("campaign_id", "campaign__name")
        .annotate(n=Count("pk"), ends_at=Min("campaign__ends_at"))
        .order_by("ends_at", "campaign_id")[:5]
    )
    if not rows:
        return None
    return {"campaigns": rows, "total": sum(r["n"] for r in rows)}


def register() -> None:
    register_panel(
        WORKSPACE_HOME, "reviews", order=15, template="workspace/home/reviews.html", build=reviews_panel
    )
