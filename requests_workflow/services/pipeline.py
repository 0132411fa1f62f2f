"""Running a request: stage 3 (approval, SoD) for a new request, stage 4 (persistence through
the directory services) once it is approved and its access period has started, stage 5
(provisioning) and the rollback when provisioning finally fails.

``request_process`` is what the Celery task calls; it locks the request and only does what its
status still calls for, so running it twice has one effect.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from blazon.audit.services import audit_batch, audit_record
from blazon.errors import DomainError, TransitionNotAllowed
from blazon.logging import correlation_id_var
from provisioning.models import EntryStatus
from provisioning.selectors import entries_of_request
from provisioning.services import entries_for_request
from requests_workflow.models import Request, RequestStatus
from requests_workflow.services.approvals import approval_stage_start
from requests_workflow.services.common import (
    request_event,
    request_move,
    request_save,
    request_writes_deferred,
)
from requests_workflow.types import SPECS

R = RequestStatus


def request_correlation_id(req: Request) -> str:
    """The correlation id every log line, audit event and provisioning entry of stage 4
    carries, so the directory's audit answers "which request did this?". A trace tag only: an
    entry finds its request through ``ProvisioningEntry.request``, never through this string
    (a client can send any ``X-Correlation-ID``)."""
    return f"request-{req.pk}"


@transaction.atomic
def request_process(*, request_id: int) -> Request:
    """Advance a request as far as it can go now. Safe to run twice or concurrently.

    The writes of all the stages run here are made at the end in one go: the audit events are
    chained with one head read and one INSERT-and-head-update statement (``audit_batch``), the
    request row is saved once and its timeline lines inserted in one statement
    (``request_writes_deferred``). A no-approval grant costs 14 statements from BEGIN to COMMIT
    (``tests/requests_workflow/test_statement_budget.py``). It runs in English: the failure
    reasons and timeline lines it stores are data, whatever the language of the page that
    triggered it."""
    with translation.override("en"), audit_batch():
        return _process(request_id)


def _process(request_id: int) -> Request:
    req = (
        Request.objects.select_for_update(of=("self",))
        .select_related(
            "beneficiary", "requester", "resource", "account__resource", "entitlement__resource", "role"
        )
        .get(pk=request_id)
    )
    with request_writes_deferred(req):
        _advance(req)
    return req


def _advance(req: Request) -> None:
    if req.status == R.NEW:
        approval_stage_start(req, actor=None)
    if req.status == R.APPROVED:
        if req.start_at and req.start_at > timezone.now():
            if req.stage < 4 and not req.events.filter(stage=3, message__startswith="Access starts").exists():
                request_event(
                    req, stage=3, message=f"Access starts on {req.start_at:%Y-%m-%d %H:%M}; waiting."
                )
            return
        _persist(req)


def _persist(req: Request) -> None:
    """Stage 4 and the decision of stage 5. A domain error from the directory leaves nothing
    behind (savepoint) and fails the request with the reason."""
    spec = SPECS[req.type]
    actor = req.requester
    token = correlation_id_var.set(request_correlation_id(req))
    try:
        with transaction.atomic(), entries_for_request(req.pk):
            result = spec.apply(req, actor)
    except DomainError as exc:
        req.failure_reason = exc.message
        request_save(req, ["failure_reason", "updated_at"])
        request_move(
            req, R.FAILED, stage=4, actor=None, message=f"The directory refused the change: {exc.message}"
        )
        return
    finally:
        correlation_id_var.reset(token)
    now = timezone.now()
    entries = list(entries_of_request(req.pk).values_list("pk", flat=True))
    req.result = {**req.result, **_jsonable(result), "provisioning_entries": entries}
    req.applied_at = now
    req.stage = 4
    request_save(req, ["result", "applied_at", "stage", "beneficiary", "account", "updated_at"])
    request_event(req, stage=4, message="Applied to the directory.")
    audit_record(
        actor=None,
        action="request.applied",
        obj=req,
        new={"type": req.type, "result": req.result},
        source=req.source,
        subject_user_id=req.beneficiary_id,
    )
    if entries:
        request_move(
            req,
            R.WAITING_PROVISIONING,
            stage=5,
            actor=None,
            message=f"{len(entries)} provisioning entr{'y' if len(entries) == 1 else 'ies'} written; waiting.",
        )
    else:
        request_move(req, R.FINISHED, stage=5, actor=None, message="Finished (nothing to provision).")


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in value.items()}


@transaction.atomic
def request_provisioning_result(*, request: Request, ok: bool, detail: str = "") -> Request:
    """Stage 5 outcome, reported by provisioning: success finishes the request; a final failure
    rolls the directory back (a new account revoked, a changed account restored, a granted
    membership revoked) and fails the request. Its audit events are chained in one go."""
    with audit_batch():
        return _provisioning_result(request, ok, detail)


def _provisioning_result(request: Request, ok: bool, detail: str) -> Request:
    req = (
        Request.objects.select_for_update(of=("self",))
        .select_related("beneficiary", "account__resource", "entitlement__resource", "role")
        .get(pk=request.pk)
    )
    if req.status != R.WAITING_PROVISIONING:
        if req.status in (R.FINISHED, R.FAILED):
            return req  # reported twice: the first report decided
        raise TransitionNotAllowed(
            gettext("Request #%(pk)s is %(status)s: it is not waiting for provisioning.")
            % {"pk": req.pk, "status": req.status}
        )
    if ok:
        request_move(
            req, R.FINISHED, stage=5, actor=None, message="Provisioned" + (f": {detail}" if detail else ".")
        )
        return req
    spec = SPECS[req.type]
    token = correlation_id_var.set(f"{request_correlation_id(req)}-rollback")
    try:
        if spec.rollback is None:
            undone = "not rolled back: this change cannot be undone in the directory"
        else:
            with transaction.atomic(), entries_for_request(req.pk, rollback=True):
                undone = spec.rollback(req, None)
    except DomainError as exc:
        undone = f"rollback refused by the directory: {exc.message}"
    finally:
        correlation_id_var.reset(token)
    req.failure_reason = f"Provisioning failed: {detail or 'no detail'}; {undone}."
    req.result = {**req.result, "rollback": undone}
    req.save(update_fields=["failure_reason", "result", "updated_at"])
    request_move(req, R.FAILED, stage=5, actor=None, message=req.failure_reason)
    request.status = req.status
    return req


#: Entry statuses that no longer hold a request back.
_ENTRY_DONE = {EntryStatus.SUCCEEDED, EntryStatus.CANCELED}


def request_settle(req: Request) -> None:
    """Entries of ``req`` (locked) changed: a failed one fails it (the directory is rolled
    back); all succeeded (or canceled) finishes it. Otherwise, or when the request is no
    longer waiting for provisioning, nothing changes. Provisioning asks for it through
    ``provisioning.signals.request_entries_settled`` (``requests_workflow.receivers``)."""
    if req.status != R.WAITING_PROVISIONING:
        return
    rows = list(entries_of_request(req.pk).values_list("pk", "event_type", "status", "last_error"))
    failed = [r for r in rows if r[2] == EntryStatus.FAILED]
    if failed:
        pk, event, _, reason = failed[0]
        request_provisioning_result(request=req, ok=False, detail=f"entry #{pk} ({event}): {reason}")
    elif rows and all(r[2] in _ENTRY_DONE for r in rows):
        n = len(rows)
        request_provisioning_result(
            request=req, ok=True, detail=f"{n} entr{'y' if n == 1 else 'ies'} provisioned"
        )
