"""Running a batch of new requests through stages 3–5 set-based (the CSV import).

``requests_process_many`` does for many NEW requests what ``pipeline.request_process`` does for
one, in a number of SQL statements that does not grow with the batch: the requests are locked
and loaded at once, the approval policies are loaded once and matched in memory with the same
rule (``approval_policy_applies``), the SoD check goes through ``sod_check_requests``, and the
directory changes, provisioning entries, timeline events, audit events and status changes are
written with one statement each. The result is the same as processing the requests one by one:
the same statuses, timeline messages, audit events (per request, in the same order, with the
same actor and correlation id), memberships and provisioning entries.

Set-based today: ``GRANT_ENTITLEMENT`` and ``REVOKE_ENTITLEMENT``. Everything else, and every
request the set path cannot decide exactly like the per-request path — one that needs approval
tasks or has SoD conflicts, a beneficiary with a revoked regular account or whose username is
taken on the resource, an entitlement the account already holds manually, a membership a role
keeps or that is not there, two requests for the same membership — goes through
``request_process``, in the same transaction. (``GRANT_ROLE``/``REVOKE_ROLE`` fan out through
the role's items: they stay per request for now.)

Safety: the batch's requests are locked ``FOR UPDATE SKIP LOCKED`` and only those still NEW are
taken, so a concurrent ``process_request`` for one of them, or the batch run twice, has one
effect; the batch is one transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from blazon.audit.services import AuditEntry, audit_record_many
from blazon.db import copy_rows
from blazon.outbox.services import outbox_batch
from blazon.tasks import TRANSIENT_ERRORS
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    Entitlement,
    EntitlementMembership,
    Management,
    MembershipRoleGrant,
    ProvisioningEvent,
    User,
    UserStatus,
)
from provisioning.models import ProvisioningEntry
from provisioning.services import entries_write_mixed
from requests_workflow.models import Request, RequestEvent, RequestStatus, RequestType
from requests_workflow.notify import request_outcome_notify
from requests_workflow.services.approvals import approval_policies_active, approval_policy_match
from requests_workflow.services.common import TERMINAL, TRANSITIONS
from requests_workflow.services.pipeline import _jsonable, request_correlation_id, request_process
from requests_workflow.types import SPECS
from sod.services import sod_check_requests

R = RequestStatus
logger = logging.getLogger(__name__)

#: The types whose stage 4 the set path applies itself.
SET_TYPES = frozenset({RequestType.GRANT_ENTITLEMENT, RequestType.REVOKE_ENTITLEMENT})

_REQUEST_FIELDS = ("status", "stage", "account", "result", "applied_at", "finished_at", "updated_at")


@dataclass(eq=False)
class _Run:
    """What the set path writes for one request, in the order the per-request path would."""

    req: Request
    events: list[tuple[int, str, str, str]] = field(default_factory=list)  # stage, from, to, message
    audit: list[AuditEntry] = field(default_factory=list)
    account: Account | None = None
    account_created: bool = False
    membership: EntitlementMembership | None = None
    kept_manually: bool = False
    revoking: bool = False  # REVOKE_ENTITLEMENT: ``membership`` goes

    # What the batch knows of the requests it takes (entitlement grants and revokes for a user):
    # these are set; the asserts say so to the type checker and fail loudly if one is not.
    @property
    def owner(self) -> User:
        assert self.req.beneficiary is not None
        return self.req.beneficiary

    @property
    def ent(self) -> Entitlement:
        assert self.req.entitlement is not None
        return self.req.entitlement

    @property
    def acct(self) -> Account:
        assert self.account is not None
        return self.account

    @property
    def member(self) -> EntitlementMembership:
        assert self.membership is not None
        return self.membership

    def event(self, stage: int, message: str, frm: str = "", to: str = "") -> None:
        self.events.append((stage, frm, to, message))

    def move(self, to: str, *, stage: int, message: str, now: Any) -> None:
        """``request_move`` in memory (actor: the system)."""
        req = self.req
        frm = req.status
        assert to in TRANSITIONS.get(frm, frozenset()), (frm, to)
        req.status, req.stage = to, max(req.stage, stage)
        if to in TERMINAL:
            req.finished_at = now
        self.event(stage, message, frm, to)
        self.audit.append(
            AuditEntry(
                action=f"request.{to.lower()}",
                object_type=Request._meta.label,
                object_id=req.pk,
                object_repr=str(req),
                old={"status": frm},
                new={"status": to, "stage": stage, "message": message},
                subject_user_id=req.beneficiary_id,
                actor=None,
                source=req.source,
            )
        )


def requests_process_many(request_ids: Iterable[int]) -> dict[str, int]:
    """Carry the NEW requests among ``request_ids`` through stages 3–5 (see the module doc).
    Returns counts: ``set`` (handled set-based), ``single`` (through ``request_process``),
    ``skipped`` (locked by someone else or no longer NEW)."""
    ids = sorted(set(request_ids))
    if not ids:
        return {"set": 0, "single": 0, "skipped": 0}
    with transaction.atomic():
        reqs = list(
            Request.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related(
                "beneficiary__manager",
                "beneficiary__organization",
                "requester",
                "resource",
                "account__resource",
                "entitlement__resource",
                "role",
            )
            .filter(pk__in=ids, status=R.NEW)
            .order_by("pk")
        )
        runs, single = _stage3(reqs)
        runs, more = _stage4_prepare(runs)
        single += more
        if runs:
            try:
                with transaction.atomic():
                    _write(runs)
            except IntegrityError:  # a concurrent change took an account or a membership
                single += [run.req for run in runs]
                runs = []
        for req in sorted(single, key=lambda r: r.pk):
            _process_one(req.pk)
        _notify_final(run.req for run in runs)
    return {"set": len(runs), "single": len(single), "skipped": len(ids) - len(reqs)}


def _process_one(request_id: int) -> None:
    """``request_process`` for one request of the batch. An error it raises undoes that
    request's processing only (its savepoint) and is logged: the request stays NEW, as it would
    after its own task failed, and the rest of the batch goes on. A transient database error
    fails the batch, so that the task is retried."""
    try:
        request_process(request_id=request_id)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception("request #%s could not be processed in its import batch", request_id)


def _stage3(reqs: list[Request]) -> tuple[list[_Run], list[Request]]:
    """Approval and SoD in memory; a request that needs tasks goes to the per-request path."""
    candidates = [r for r in reqs if r.type in SET_TYPES and _set_capable(r)]
    single = [r for r in reqs if r.type not in SET_TYPES or not _set_capable(r)]
    policies = approval_policies_active() if candidates else []
    first: dict[int, str] = {}
    kept: list[Request] = []
    for req in candidates:
        spec = SPECS[req.type]
        if not spec.approval:
            first[req.pk] = f"{req.type} requests need no approval."
        elif req.source == "automatic":
            first[req.pk] = "Automatic request (end of a time-bound access): no approval."
        elif approval_policy_match(req, policies) is None:
            first[req.pk] = "No approval policy matched: no approval needed."
        else:
            single.append(req)  # approval tasks: the per-request path opens them
            continue
        kept.append(req)
    conflicts = sod_check_requests(r for r in kept if SPECS[r.type].sod)
    runs: list[_Run] = []
    now = timezone.now()
    for req in kept:
        if conflicts.get(req.pk):
            single.append(req)  # SoD task: the per-request path opens it
            continue
        run = _Run(req)
        run.event(3, first[req.pk])
        if SPECS[req.type].sod:
            run.event(3, "SoD check: no SoD policy matched.")
            run.move(R.APPROVED, stage=3, message="Approved.", now=now)
        else:
            run.move(R.APPROVED, stage=3, message="Approved (no SoD check for this type).", now=now)
        runs.append(run)
    return runs, single


def _set_capable(req: Request) -> bool:
    """A grant or revoke the set path can apply exactly as ``_grant_entitlement`` or
    ``_revoke_entitlement`` would."""
    if req.type == RequestType.REVOKE_ENTITLEMENT:
        return req.account_id is not None and req.entitlement_id is not None
    return (
        req.type == RequestType.GRANT_ENTITLEMENT
        and req.account_id is None
        and req.beneficiary_id is not None
        and req.entitlement_id is not None
    )


def _stage4_prepare(runs: list[_Run]) -> tuple[list[_Run], list[Request]]:
    """Read the directory state the grants depend on (three queries, rows locked as the
    per-request path locks them) and decide, per request, the account and the membership; a
    request the directory would refuse goes to the per-request path, which fails it with the
    directory's reason."""
    now = timezone.now()
    due = [run for run in runs if not (run.req.start_at and run.req.start_at > now)]
    waiting = {id(run) for run in runs} - {id(run) for run in due}
    for run in runs:
        if id(run) in waiting:
            run.event(3, f"Access starts on {run.req.start_at:%Y-%m-%d %H:%M}; waiting.")
    if not due:
        return runs, []
    revokes = [run for run in due if run.req.type == RequestType.REVOKE_ENTITLEMENT]
    due = [run for run in due if run.req.type != RequestType.REVOKE_ENTITLEMENT]
    owner_ids = {run.req.beneficiary_id for run in due}
    resource_ids = {run.ent.resource_id for run in due}
    accounts: dict[tuple[Any, Any], Account] = {
        (a.owner_id, a.resource_id): a
        for a in Account.objects.select_for_update(of=("self",))
        .select_related("resource")
        .filter(owner_id__in=owner_ids, resource_id__in=resource_ids, account_type=AccountType.REGULAR)
        .order_by("pk")  # one lock order for every batch: no deadlock between two batches
    }
    taken = set(
        Account.objects.filter(
            resource_id__in=resource_ids, identifier__in={run.owner.username.strip() for run in due}
        ).values_list("resource_id", "identifier")
    )
    live_ids = [a.pk for a in accounts.values() if a.status != AccountStatus.REVOKED]
    memberships: dict[tuple[Any, Any], EntitlementMembership] = {
        (m.account_id, m.entitlement_id): m
        for m in EntitlementMembership.objects.select_for_update()
        .filter(account_id__in=live_ids, entitlement_id__in={run.req.entitlement_id for run in due})
        .order_by("pk")
    }
    single: list[Request] = []
    new_accounts: dict[tuple[Any, Any], Account] = {}
    seen: set[tuple[Any, Any]] = set()
    kept: list[_Run] = []
    revoking = {id(run) for run in revokes}
    for run in runs:
        if id(run) in waiting or id(run) in revoking:
            kept.append(run)
            continue
        req, owner, ent = run.req, run.owner, run.ent
        key = (owner.pk, ent.resource_id)
        account = accounts.get(key)
        if account is not None and account.status == AccountStatus.REVOKED:
            single.append(req)  # account_create refuses: a regular account exists
            continue
        if account is None and key not in new_accounts:
            if owner.status not in (UserStatus.ACTIVE, UserStatus.INACTIVE) or not owner.username.strip():
                single.append(req)
                continue
            if (ent.resource_id, owner.username.strip()) in taken:
                single.append(req)  # identifier already used on the resource
                continue
        membership = memberships.get((account.pk, ent.pk)) if account is not None else None
        if (membership is not None and membership.manual) or (key, ent.pk) in seen:
            single.append(req)  # "already holds": the per-request path fails it
            continue
        seen.add((key, ent.pk))
        if account is None:
            account = new_accounts.get(key)
            if account is None:
                account = Account(
                    resource=ent.resource,
                    owner=owner,
                    identifier=owner.username.strip(),
                    account_type=AccountType.REGULAR,
                    status=AccountStatus.ACTIVE
                    if owner.status == UserStatus.ACTIVE
                    else AccountStatus.INACTIVE,
                    management=Management.MANUAL,
                    manual=True,
                    is_temporary=False,
                    attributes={},
                    status_changed_at=now,
                )
                new_accounts[key] = account
                run.account_created = True
        run.account = account
        if membership is not None:
            run.membership, run.kept_manually = membership, True
        else:
            run.membership = EntitlementMembership(
                account=account, entitlement=ent, management=Management.MANUAL, manual=True
            )
        kept.append(run)
    granted = {(run.account.pk, run.req.entitlement_id) for run in kept if run.account is not None}
    gone = _revokes_prepare(revokes, granted, single)
    return [run for run in kept if id(run) not in gone], single


def _revokes_prepare(revokes: list[_Run], granted: set[tuple[Any, Any]], single: list[Request]) -> set[int]:
    """The memberships the revokes remove (two queries); a revoke the directory would refuse
    (role-managed, not held) or that meets a grant of the batch goes to the per-request path.
    Returns the runs (``id``) sent there."""
    gone: set[int] = set()
    if not revokes:
        return gone
    found: dict[tuple[Any, Any], EntitlementMembership] = {
        (m.account_id, m.entitlement_id): m
        for m in EntitlementMembership.objects.select_for_update()
        .filter(
            account_id__in={run.req.account_id for run in revokes},
            entitlement_id__in={run.req.entitlement_id for run in revokes},
        )
        .order_by("pk")
    }
    by_role = set(
        MembershipRoleGrant.objects.filter(membership_id__in=[m.pk for m in found.values()]).values_list(
            "membership_id", flat=True
        )
    )
    seen: set[tuple[Any, Any]] = set()
    for run in revokes:
        key = (run.req.account_id, run.req.entitlement_id)
        membership = found.get(key)
        if membership is None or membership.pk in by_role or key in seen or key in granted:
            single.append(run.req)  # the per-request path refuses or fails it
            gone.add(id(run))
            continue
        seen.add(key)
        run.account, run.membership, run.revoking = run.req.account, membership, True
    return gone


def _write(runs: list[_Run]) -> None:
    """The writes of the batch, a constant number of statements."""
    now = timezone.now()
    applying = [run for run in runs if run.account is not None]
    Account.objects.bulk_create([run.acct for run in applying if run.account_created])
    adding = [run for run in applying if not (run.kept_manually or run.revoking)]
    for run in adding:  # the ids are known now
        run.member.account = run.acct
    EntitlementMembership.objects.bulk_create([run.member for run in adding])
    kept = [run.member.pk for run in applying if run.kept_manually]
    if kept:
        EntitlementMembership.objects.filter(pk__in=kept).update(manual=True)
    entries_write_mixed(_entry_rows(applying))
    entries: dict[int, list[int]] = {}
    if applying:
        for request_id, pk in (
            ProvisioningEntry.objects.filter(request_id__in=[run.req.pk for run in applying])
            .order_by("pk")
            .values_list("request_id", "pk")
        ):
            entries.setdefault(request_id, []).append(pk)
    for run in applying:
        _applied(run, entries.get(run.req.pk, []), now)
    removed = [run.member.pk for run in applying if run.revoking]
    if removed:
        EntitlementMembership.objects.filter(pk__in=removed).delete()
    for run in runs:
        run.req.updated_at = now
    _update_requests([run.req for run in runs])
    _insert_events(((run.req.pk, *e) for run in runs for e in run.events), now)
    audit_record_many((a for run in runs for a in run.audit), actor=None, source="")


def _update_requests(reqs: list[Request]) -> None:
    """Write the batch's new request states in one UPDATE. On PostgreSQL from arrays (Django's
    ``bulk_update`` builds a CASE per column and row: seconds of Python for 500 requests)."""
    if connection.vendor != "postgresql":
        Request.objects.bulk_update(reqs, _REQUEST_FIELDS)
        return
    table = connection.ops.quote_name(Request._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} AS r SET status = v.status, stage = v.stage, account_id = v.account_id,
                    result = v.result::jsonb, applied_at = v.applied_at, finished_at = v.finished_at,
                    updated_at = v.updated_at
                FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::bigint[], %s::text[],
                            %s::timestamptz[], %s::timestamptz[], %s::timestamptz[])
                     AS v(id, status, stage, account_id, result, applied_at, finished_at, updated_at)
                WHERE r.id = v.id""",  # noqa: S608 (the table name is ours, quoted)
            [
                [r.pk for r in reqs],
                [r.status for r in reqs],
                [r.stage for r in reqs],
                [r.account_id for r in reqs],
                [json.dumps(r.result, cls=DjangoJSONEncoder) for r in reqs],
                [r.applied_at for r in reqs],
                [r.finished_at for r in reqs],
                [r.updated_at for r in reqs],
            ],
        )


def _insert_events(events: Iterable[tuple[int, int, str, str, str]], now: Any) -> None:
    """The batch's timeline lines, in order, streamed (no ids needed)."""
    copy_rows(
        RequestEvent._meta.db_table,
        ("request_id", "stage", "from_status", "to_status", "actor_id", "message", "at"),
        ((request_id, stage, frm, to, None, message, now) for request_id, stage, frm, to, message in events),
    )


def _entry_rows(applying: list[_Run]) -> Iterable[dict[str, Any]]:
    """What ``account_create`` and ``membership_grant`` write, request by request."""
    for run in applying:
        cid = request_correlation_id(run.req)
        owner_id = run.acct.owner_id
        if run.revoking:
            yield {
                "resource": run.acct.resource,
                "event_type": ProvisioningEvent.REVOKE_ENTITLEMENT,
                "account_id": run.acct.pk,
                "entitlement_id": run.req.entitlement_id,
                "user_id": owner_id,
                "payload": {"reason": "manual"},
                "correlation_id": cid,
                "request_id": run.req.pk,
            }
            continue
        resource = run.ent.resource
        if run.account_created:
            yield {
                "resource": resource,
                "event_type": ProvisioningEvent.CREATE_ACCOUNT,
                "account_id": run.acct.pk,
                "user_id": owner_id,
                "payload": {"reason": "manual"},
                "correlation_id": cid,
                "request_id": run.req.pk,
            }
        if not run.kept_manually:
            yield {
                "resource": resource,
                "event_type": ProvisioningEvent.GRANT_ENTITLEMENT,
                "account_id": run.acct.pk,
                "entitlement_id": run.req.entitlement_id,
                "user_id": owner_id,
                "payload": {"reason": "manual"},
                "correlation_id": cid,
                "request_id": run.req.pk,
            }


def _applied(run: _Run, entries: list[int], now: Any) -> None:
    """Stage 4's records (the directory's audit events, the request's result) and stage 5's
    decision, as ``pipeline._persist`` makes them."""
    req, account, membership, ent = run.req, run.acct, run.member, run.ent
    cid = request_correlation_id(req)
    actor = req.requester
    if run.account_created:
        run.audit.append(
            AuditEntry(
                action="account.created",
                object_type=Account._meta.label,
                object_id=account.pk,
                object_repr=str(account),
                new={
                    "resource": ent.resource.code,
                    "identifier": account.identifier,
                    "type": AccountType.REGULAR,
                    "owner": run.owner.username,
                    "temporary": False,
                    "expires_at": None,
                },
                subject_user_id=account.owner_id,
                actor=actor,
                source=req.source,
                correlation_id=cid,
            )
        )
    if run.revoking:
        run.audit.append(
            AuditEntry(
                action="membership.revoked",
                object_type=EntitlementMembership._meta.label,
                object_id=membership.pk,
                object_repr=f"{ent} ∈ {account}",
                old={"account": str(account), "entitlement": ent.identifier},
                subject_user_id=account.owner_id,
                actor=actor,
                source=req.source,
                correlation_id=cid,
            )
        )
    elif run.kept_manually:
        run.audit.append(
            AuditEntry(
                action="membership.kept_manually",
                object_type=EntitlementMembership._meta.label,
                object_id=membership.pk,
                object_repr=f"{ent} ∈ {account}",
                new={"manual": True},
                subject_user_id=account.owner_id,
                actor=actor,
                source=req.source,
                correlation_id=cid,
            )
        )
    else:
        run.audit.append(
            AuditEntry(
                action="membership.granted",
                object_type=EntitlementMembership._meta.label,
                object_id=membership.pk,
                object_repr=f"{ent} ∈ {account}",
                new={"account": str(account), "entitlement": ent.identifier},
                subject_user_id=account.owner_id,
                actor=actor,
                source=req.source,
                correlation_id=cid,
            )
        )
    if run.revoking:
        result: dict[str, Any] = {"revoked_membership_id": membership.pk}
    else:
        result = {
            "membership_id": membership.pk,
            "created_account_id": account.pk if run.account_created else None,
        }
    req.account = account
    req.result = {**req.result, **_jsonable(result), "provisioning_entries": entries}
    req.applied_at = now
    req.stage = 4
    run.event(4, "Applied to the directory.")
    run.audit.append(
        AuditEntry(
            action="request.applied",
            object_type=Request._meta.label,
            object_id=req.pk,
            object_repr=str(req),
            new={"type": req.type, "result": req.result},
            subject_user_id=req.beneficiary_id,
            actor=None,
            source=req.source,
        )
    )
    if entries:
        n = len(entries)
        run.move(
            R.WAITING_PROVISIONING,
            stage=5,
            message=f"{n} provisioning entr{'y' if n == 1 else 'ies'} written; waiting.",
            now=now,
        )
    else:
        run.move(R.FINISHED, stage=5, message="Finished (nothing to provision).", now=now)


def _notify_final(reqs: Iterable[Request]) -> None:
    """The outcome e-mail of each request the batch ended, as ``request_move`` queues it (their
    outbox rows in one INSERT)."""
    with outbox_batch():
        for req in reqs:
            if req.status in TERMINAL:
                request_outcome_notify(req)
