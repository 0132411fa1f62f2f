"""The request status table and the one helper that moves a request and records it (timeline
event + audit event, in the caller's transaction)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from blazon.audit.services import audit_record
from blazon.errors import TransitionNotAllowed
from requests_workflow.models import Request, RequestEvent, RequestStatus

R = RequestStatus

#: from → the statuses a request may move to. Terminal statuses have no entry.
TRANSITIONS: dict[str, frozenset[str]] = {
    R.NEW: frozenset({R.WAITING_APPROVAL, R.WAITING_SOD_APPROVAL, R.APPROVED, R.CANCELED, R.FAILED}),
    R.WAITING_APPROVAL: frozenset({R.WAITING_SOD_APPROVAL, R.APPROVED, R.REJECTED, R.CANCELED, R.FAILED}),
    R.WAITING_SOD_APPROVAL: frozenset({R.APPROVED, R.REJECTED, R.CANCELED, R.FAILED}),
    # APPROVED is "approved, not applied yet" (stage 4 has not run: waiting for the start date)
    R.APPROVED: frozenset({R.WAITING_PROVISIONING, R.FINISHED, R.FAILED, R.CANCELED}),
    R.WAITING_PROVISIONING: frozenset({R.FINISHED, R.FAILED}),
}
TERMINAL = frozenset({R.REJECTED, R.CANCELED, R.FINISHED, R.FAILED})
#: Statuses in which the requester or an administrator may still cancel (before stage 4).
CANCELABLE = frozenset({R.NEW, R.WAITING_APPROVAL, R.WAITING_SOD_APPROVAL, R.APPROVED})


def request_event(
    req: Request, *, stage: int, message: str, actor: Any = None, frm: str = "", to: str = ""
) -> None:
    """Add a line to the request's timeline (no status change unless ``frm``/``to`` say so)."""
    RequestEvent.objects.create(
        request=req,
        stage=stage,
        from_status=frm,
        to_status=to,
        actor=actor if getattr(actor, "pk", None) else None,
        message=message,
    )


def request_events(req: Request, lines: list[dict[str, Any]]) -> list[RequestEvent]:
    """Add several timeline lines at once (one INSERT); each dict takes ``request_event``'s
    keyword arguments. Returns the events, in order, with their ids."""
    events = [
        RequestEvent(
            request=req,
            stage=line["stage"],
            from_status=line.get("frm", ""),
            to_status=line.get("to", ""),
            actor=line.get("actor") if getattr(line.get("actor"), "pk", None) else None,
            message=line["message"],
        )
        for line in lines
    ]
    return RequestEvent.objects.bulk_create(events)


def request_move(
    req: Request,
    to: str,
    *,
    stage: int,
    actor: Any,
    message: str,
    source: str | None = None,
    **audit_new: Any,
) -> Request:
    """Move a locked request to ``to`` following ``TRANSITIONS``; timeline + audit event."""
    frm = req.status
    if to not in TRANSITIONS.get(frm, frozenset()):
        raise TransitionNotAllowed(
            f"Request #{req.pk} is {frm}: it cannot become {to}.",
            fields={"status": [f"{frm} → {to} is not allowed."]},
        )
    now = timezone.now()
    req.status, req.stage = to, max(req.stage, stage)
    fields = ["status", "stage", "updated_at"]
    if to in TERMINAL:
        req.finished_at = now
        fields.append("finished_at")
    req.save(update_fields=fields)
    request_event(req, stage=stage, message=message, actor=actor, frm=frm, to=to)
    audit_record(
        actor=actor,
        action=f"request.{to.lower()}",
        obj=req,
        old={"status": frm},
        new={"status": to, "stage": stage, "message": message, **audit_new},
        source=source or req.source,
        subject_user_id=req.beneficiary_id,
    )
    return req
