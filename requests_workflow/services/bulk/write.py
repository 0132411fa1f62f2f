"""The writes of a batch (``requests_workflow.services.bulk``), a constant number of statements
whatever its size: accounts, memberships and provisioning entries in bulk, the requests' new
states in one UPDATE, the timeline streamed, the audit events at once; plus the records stage 4
and 5 leave, as ``pipeline._persist`` makes them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from blazon.audit.services import AuditEntry, audit_record_many
from blazon.db import copy_rows
from directory.models import Account, AccountType, EntitlementMembership, ProvisioningEvent
from provisioning.models import ProvisioningEntry
from provisioning.services import entries_write_mixed
from requests_workflow.models import Request, RequestEvent, RequestStatus
from requests_workflow.services.bulk.decide import Run
from requests_workflow.services.pipeline import _jsonable, request_correlation_id

R = RequestStatus

_REQUEST_FIELDS = ("status", "stage", "account", "result", "applied_at", "finished_at", "updated_at")


def write(runs: list[Run]) -> None:
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


def _entry_rows(applying: list[Run]) -> Iterable[dict[str, Any]]:
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


def _applied(run: Run, entries: list[int], now: Any) -> None:
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
    what: dict[str, Any] = {"account": str(account), "entitlement": ent.identifier}
    change: dict[str, dict[str, Any]]
    if run.revoking:
        action, change = "membership.revoked", {"old": what}
    elif run.kept_manually:
        action, change = "membership.kept_manually", {"new": {"manual": True}}
    else:
        action, change = "membership.granted", {"new": what}
    run.audit.append(
        AuditEntry(
            action=action,
            object_type=EntitlementMembership._meta.label,
            object_id=membership.pk,
            object_repr=f"{ent} ∈ {account}",
            subject_user_id=account.owner_id,
            actor=actor,
            source=req.source,
            correlation_id=cid,
            **change,
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
