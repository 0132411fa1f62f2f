"""What the request pages share: the stage names of the timeline and how a request is named.
Which tasks a user may see and decide is ``requests_workflow.selectors.open_tasks_for``."""

from __future__ import annotations

from typing import Any

from requests_workflow.models import Request, RequestStatus
from requests_workflow.services.common import CANCELABLE, TERMINAL
from requests_workflow.subjects import REQUEST_RELATED, request_object

__all__ = ["REQUEST_RELATED", "STAGES", "cancelable", "request_object", "timeline"]

STAGES = (
    (1, "Creation"),
    (2, "Validation"),
    (3, "Approval and SoD"),
    (4, "Directory"),
    (5, "Provisioning"),
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
