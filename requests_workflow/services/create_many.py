"""Creating many requests at once for another app's bulk work (certification's revocations at
the end of a campaign): stage 1 and 2 of ``request_create`` for a batch, in a number of
statements that does not grow with it, and the batch's processing (stages 3-5, set-based:
``services.bulk``) enqueued on commit as one task per ``BATCH`` requests.

The caller has checked the objects' state (as the CSV import's validation does); stage 4 checks
it again under lock and fails a request whose object changed meanwhile. A batch this path
cannot create exactly like ``request_create`` — a type the source may not request, active
validation policies (they judge each request), or a pending request for the same object (the
unique pending-request index) — is created one ``request_create`` at a time instead, and a row
refused there comes back as its ``DomainError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from blazon.audit.services import AuditEntry, audit_record_many
from blazon.errors import DomainError
from blazon.tasks import enqueue_on_commit
from directory.models import Account, Entitlement, Role, User
from requests_workflow.models import Request, RequestEvent, RequestStatus
from requests_workflow.services.requests import dedup_key, request_create
from requests_workflow.services.validation import active_validation_policies
from requests_workflow.tasks import process_requests_batch
from requests_workflow.types import SPECS

BATCH = 1000


@dataclass(frozen=True)
class NewRequest:
    """One request of a batch: its type, beneficiary, objects and justification."""

    request_type: str
    beneficiary: User
    justification: str
    account: Account | None = None
    entitlement: Entitlement | None = None
    role: Role | None = None


def _one(actor: User | None, source: str, row: NewRequest) -> Request | DomainError:
    try:
        with transaction.atomic():
            return request_create(
                actor=actor,
                source=source,
                request_type=row.request_type,
                beneficiary=row.beneficiary,
                account=row.account,
                entitlement=row.entitlement,
                role=row.role,
                justification=row.justification,
            )
    except DomainError as error:
        return error


@transaction.atomic
def requests_create_many(
    *, actor: User | None, source: str, rows: Sequence[NewRequest]
) -> list[Request | DomainError]:
    """Create a request per row (see the module docstring); the result is in the rows' order."""
    if not rows:
        return []
    allowed = all(row.request_type in SPECS and source in SPECS[row.request_type].sources for row in rows)
    if not allowed or active_validation_policies():
        return [_one(actor, source, row) for row in rows]
    built: list[tuple[Request, dict[str, Any]]] = []
    for row in rows:
        refs: dict[str, Any] = {
            "resource": None,
            "account": row.account,
            "entitlement": row.entitlement,
            "role": row.role,
        }
        req = Request(
            type=row.request_type,
            requester=actor,
            beneficiary=row.beneficiary,
            source=source,
            payload={},
            justification=row.justification.strip(),
            dedup_key=dedup_key(row.request_type, row.beneficiary, refs, {}),
            stage=2,
            **refs,
        )
        built.append((req, refs))
    try:
        with transaction.atomic():
            Request.objects.bulk_create([req for req, _ in built], batch_size=BATCH)
    except IntegrityError:  # a pending request for one of the objects: one at a time
        return [_one(actor, source, row) for row in rows]
    actor_ref = actor if getattr(actor, "pk", None) else None
    events = []
    for req, _ in built:
        events.append(
            RequestEvent(
                request=req,
                stage=1,
                to_status=RequestStatus.NEW,
                actor=actor_ref,
                message=f"Created from {source}.",
            )
        )
        events.append(
            RequestEvent(request=req, stage=2, actor=actor_ref, message="Validation policies passed.")
        )
    RequestEvent.objects.bulk_create(events, batch_size=2 * BATCH)
    # built before the audit rows stream (a COPY): naming an object may read its relations
    entries = [
        AuditEntry(
            action="request.created",
            object_type=Request._meta.label,
            object_id=req.pk,
            object_repr=str(req),
            new={
                "type": req.type,
                "beneficiary": row.beneficiary.username,
                **{name: str(obj) for name, obj in refs.items() if obj is not None},
                "payload": {},
                "justification": req.justification,
                "start_at": None,
                "end_at": None,
            },
            subject_user_id=req.beneficiary_id,
        )
        for (req, refs), row in zip(built, rows, strict=True)
    ]
    audit_record_many(entries, actor=actor, source=source)
    ids = [req.pk for req, _ in built]
    for start in range(0, len(ids), BATCH):
        enqueue_on_commit(process_requests_batch, ids[start : start + BATCH])
    return [req for req, _ in built]
