"""The request status table and the one helper that moves a request and records it (timeline
event + audit event, in the caller's transaction).

``request_writes_deferred(req)`` lets a service that moves one request through several steps in
one transaction (the pipeline: stage 3 to FINISHED) write that request's row once and its new
timeline lines in one INSERT at the end, instead of an UPDATE per step and an INSERT per line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import TransitionNotAllowed
from requests_workflow.models import Request, RequestEvent, RequestStatus
from requests_workflow.notify import request_outcome_notify

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


class _DeferredWrites:
    def __init__(self) -> None:
        self.fields: set[str] = set()
        self.events: list[RequestEvent] = []


def _deferred(req: Request) -> _DeferredWrites | None:
    return req.__dict__.get("_deferred_writes")


@contextmanager
def request_writes_deferred(req: Request) -> Iterator[None]:
    """Within the block, ``request_save``/``request_move`` collect the fields to save and
    ``request_event`` the timeline lines; when the block ends without an exception the row is
    saved once and the lines are inserted in one statement, in order (their ``at`` is the time of that
    INSERT, a few milliseconds after the step, within the same transaction).

    Use it inside the transaction that locked ``req``, around code that does not read the request
    row or its timeline back from the database (the pipeline's stages do not: the directory
    services never touch requests) and records no timeline line inside a savepoint it then
    rolls back. On an exception nothing is written: the transaction is rolled back anyway."""
    if _deferred(req) is not None:
        yield
        return
    pending = req.__dict__["_deferred_writes"] = _DeferredWrites()
    try:
        yield
    finally:
        req.__dict__.pop("_deferred_writes", None)
    if pending.fields:
        req.save(update_fields=sorted(pending.fields))
    if pending.events:
        RequestEvent.objects.bulk_create(pending.events)


def request_save(req: Request, fields: list[str]) -> None:
    """``req.save(update_fields=fields)``, or collected under ``request_writes_deferred``."""
    pending = _deferred(req)
    if pending is None:
        req.save(update_fields=fields)
    else:
        pending.fields.update(fields)


def request_event(
    req: Request, *, stage: int, message: str, actor: Any = None, frm: str = "", to: str = ""
) -> None:
    """Add a line to the request's timeline (no status change unless ``frm``/``to`` say so)."""
    event = RequestEvent(
        request=req,
        stage=stage,
        from_status=frm,
        to_status=to,
        actor=actor if getattr(actor, "pk", None) else None,
        message=message,
    )
    pending = _deferred(req)
    if pending is None:
        event.save(force_insert=True)
    else:
        pending.events.append(event)


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
            gettext("Request #%(pk)s is %(frm)s: it cannot become %(to)s.")
            % {"pk": req.pk, "frm": frm, "to": to},
            fields={"status": [gettext("%(frm)s → %(to)s is not allowed.") % {"frm": frm, "to": to}]},
        )
    now = timezone.now()
    req.status, req.stage = to, max(req.stage, stage)
    fields = ["status", "stage", "updated_at"]
    if to in TERMINAL:
        req.finished_at = now
        fields.append("finished_at")
    request_save(req, fields)
    request_event(req, stage=stage, message=message, actor=actor, frm=frm, to=to)
    if to in TERMINAL:
        request_outcome_notify(req)  # the e-mail goes after commit
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
