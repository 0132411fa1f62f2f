"""What the request pages share: the stage names of the timeline and how a request is named.
Which tasks a user may see and decide is ``requests_workflow.selectors.open_tasks_for``."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from requests_workflow.models import Request, RequestStatus
from requests_workflow.services.common import CANCELABLE, TERMINAL
from requests_workflow.subjects import REQUEST_RELATED, request_object

__all__ = [
    "REQUEST_RELATED",
    "STAGES",
    "access_day",
    "cancelable",
    "request_object",
    "request_outcome",
    "timeline",
]

STAGES = (
    (1, _("Creation")),
    (2, _("Validation")),
    (3, _("Approval and SoD")),
    (4, _("Directory")),
    (5, _("Provisioning")),
)


def timeline(req: Request) -> list[dict[str, Any]]:
    """The five stages with their state (done, current, failed, pending, skipped) and events."""
    events = list(req.events.select_related("actor").order_by("id"))
    failed = req.status in (RequestStatus.FAILED, RequestStatus.REJECTED, RequestStatus.CANCELED)
    out = []
    for number, name in STAGES:
        stage_events = [e for e in events if e.stage == number]
        if number < req.stage or (number == req.stage and req.status == RequestStatus.FINISHED):
            state = "done"
        elif number == req.stage:
            state = "failed" if failed else "current"
        else:
            state = "skipped" if req.status in TERMINAL else "pending"
        out.append({"number": number, "name": name, "state": state, "events": stage_events})
    return out


def cancelable(req: Request) -> bool:
    return req.status in CANCELABLE


def request_outcome(req: Request) -> str:
    """What became of a request just made, as the message after a button says it."""
    if req.status == RequestStatus.FINISHED:
        return gettext("done")
    if req.status in (RequestStatus.WAITING_APPROVAL, RequestStatus.WAITING_SOD_APPROVAL):
        return gettext("waiting for approval")
    if req.status == RequestStatus.FAILED:
        return gettext("failed: %(reason)s") % {"reason": req.failure_reason}
    return str(req.get_status_display()).lower()


def access_day(day: date | None, *, end: bool = False) -> datetime | None:
    """A form's day as a request's access period bound: the start at midnight (None when that is
    already past: the access starts once approved), the end at 23:59 of the day."""
    if not day:
        return None
    moment = datetime.combine(day, time(23, 59) if end else time.min)
    aware = timezone.make_aware(moment, timezone.get_current_timezone())
    return None if not end and aware < timezone.now() else aware
