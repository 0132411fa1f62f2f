"""The workspace home's panels about requests: mine in flight, accesses about to end, my team."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from blazon.panels import WORKSPACE_HOME, register_panel
from directory.models import User, UserStatus
from requests_workflow.models import PENDING_STATUSES, Request, RequestStatus
from requests_workflow.subjects import REQUEST_RELATED

SHOWN = 5
EXPIRING_DAYS = 14


def requests_panel(user: Any) -> dict[str, Any] | None:
    """My requests still on their way (made by me or for me)."""
    mine = Request.objects.filter(Q(requester=user) | Q(beneficiary=user), status__in=PENDING_STATUSES)
    total = mine.count()
    if not total:
        return None
    return {
        "requests": list(mine.select_related(*REQUEST_RELATED).order_by("-created_at")[:SHOWN]),
        "total": total,
    }


def expiring_panel(user: Any) -> dict[str, Any] | None:
    """My time-bound accesses that end within two weeks (they are removed at the end)."""
    now = timezone.now()
    ending = (
        Request.objects.filter(
            beneficiary=user,
            status=RequestStatus.FINISHED,
            access_ended_at__isnull=True,
            end_at__gt=now,
            end_at__lte=now + timedelta(days=EXPIRING_DAYS),
        )
        .select_related(*REQUEST_RELATED)
        .order_by("end_at")[:SHOWN]
    )
    ending = list(ending)
    return {"ending": ending, "days": EXPIRING_DAYS} if ending else None


def team_panel(user: Any) -> dict[str, Any] | None:
    """For a manager: how many people report to them and how many are not active."""
    counts = (
        User.objects.filter(manager=user)
        .exclude(status=UserStatus.REMOVED)
        .aggregate(total=Count("pk"), active=Count("pk", filter=Q(status=UserStatus.ACTIVE)))
    )
    if not counts["total"]:
        return None
    return {"total": counts["total"], "not_active": counts["total"] - counts["active"]}


def register() -> None:
    register_panel(
        WORKSPACE_HOME, "requests", order=20, template="workspace/home/requests.html", build=requests_panel
    )
    register_panel(
        WORKSPACE_HOME, "expiring", order=30, template="workspace/home/expiring.html", build=expiring_panel
    )
    register_panel(WORKSPACE_HOME, "team", order=40, template="workspace/home/team.html", build=team_panel)
