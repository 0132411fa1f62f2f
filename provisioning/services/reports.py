"""Many adapter reports in one call (``POST /api/v1/adapter/reports/``).

An adapter that executes a batch reports its outcomes together: one transaction, the entries
and their requests locked once (requests first, then entries, ordered by id), the successes
written with one UPDATE, the native identifiers with one upsert per kind and the audit events
chained once (``audit_batch``). A report per HTTP call made the core the bottleneck of a drain
(B6, docs/benchmarks.md).

Each report has the meaning of its single-entry call (``entry_report_success`` /
``entry_report_failure``): the same outcome again is harmless, an entry not leased to the
caller is refused. Those refusals concern one entry and are answered per entry; the other
reports of the call still count. Failures are rare and go through ``entry_report_failure``
(manual task, back-off) in a savepoint each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_batch, audit_record
from blazon.errors import DomainError, ValidationFailed
from provisioning.models import (
    ENTITLEMENT_EVENTS,
    AdapterClient,
    EntryStatus,
    NativeIdentifier,
    ProvisioningEntry,
)
from provisioning.services.adapter import (
    SOURCE,
    EntryNotFound,
    _check_leased_to,
    _clean_attributes,
    entry_report_failure,
)
from provisioning.services.manual import MEMBERSHIP_EVENTS, requests_lock_of
from provisioning.signals import entries_settle, requests_settled

MAX_REPORTS = 500
_SUCCESS_FIELDS = ["status", "result", "lease_until", "finished_at", "updated_at"]


@dataclass
class ReportResult:
    """What became of one report: the entry's state, or why it was refused."""

    entry_id: int
    entry: ProvisioningEntry | None = None
    error: DomainError | None = None


def _check_shape(reports: list[dict[str, Any]]) -> None:
    if not 1 <= len(reports) <= MAX_REPORTS:
        raise ValidationFailed(
            gettext("reports must hold from 1 to %(MAX_REPORTS)s reports.") % {"MAX_REPORTS": MAX_REPORTS},
            fields={
                "reports": [gettext("From 1 to %(MAX_REPORTS)s reports.") % {"MAX_REPORTS": MAX_REPORTS}]
            },
        )
    seen: set[Any] = set()  # what the adapter sent; checked further on
    for n, report in enumerate(reports):
        entry_id = report.get("entry")
        if entry_id in seen:
            raise ValidationFailed(
                gettext("reports[%(n)s]: entry #%(entry_id)s is reported twice in one call.")
                % {"n": n, "entry_id": entry_id},
                fields={"reports": [gettext("Entry #%(entry_id)s appears twice.") % {"entry_id": entry_id}]},
            )
        seen.add(entry_id)
        if report.get("outcome") == "success":
            _clean_attributes(report.get("attributes"))
            if len(report.get("native_identifier") or "") > 1000:
                raise ValidationFailed(
                    gettext("reports[%(n)s]: native_identifier is too long (1000 characters at most).")
                    % {"n": n},
                    fields={"reports": [gettext("native_identifier: 1000 characters at most.")]},
                )


def _remember_native_identifiers(entries: list[ProvisioningEntry]) -> None:
    """``native_identifier_remember`` for many entries: one upsert per kind of object."""
    accounts: dict[int, NativeIdentifier] = {}
    entitlements: dict[int, NativeIdentifier] = {}
    for entry in entries:
        value = entry.result.get("native_identifier") or ""
        if not value:
            continue
        if entry.event_type in ENTITLEMENT_EVENTS:
            if entry.entitlement_id:
                entitlements[entry.entitlement_id] = NativeIdentifier(
                    resource_id=entry.resource_id, entitlement_id=entry.entitlement_id, value=value
                )
        elif entry.account_id and entry.event_type not in MEMBERSHIP_EVENTS:
            accounts[entry.account_id] = NativeIdentifier(
                resource_id=entry.resource_id, account_id=entry.account_id, value=value
            )
    for rows, key in ((accounts, "account"), (entitlements, "entitlement")):
        if rows:
            NativeIdentifier.objects.bulk_create(
                list(rows.values()),
                update_conflicts=True,
                unique_fields=[key],
                update_fields=["value", "resource", "updated_at"],
            )


def _write_successes(entries: list[ProvisioningEntry], now: Any) -> None:
    """One UPDATE for the succeeded entries (only ``result`` differs between them). Django's
    ``bulk_update`` builds a CASE per row and field, which cost ≈ 10 ms of CPU per entry."""
    if connection.vendor != "postgresql":
        ProvisioningEntry.objects.bulk_update(entries, _SUCCESS_FIELDS)
        return
    table = connection.ops.quote_name(ProvisioningEntry._meta.db_table)
    # the table name comes from the model's meta, quoted; every value is a parameter
    sql = (
        f"UPDATE {table} AS e SET status = %s, lease_until = NULL, finished_at = %s, updated_at = %s, "  # noqa: S608
        "result = v.result::jsonb FROM unnest(%s::bigint[], %s::text[]) AS v(id, result) WHERE e.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                EntryStatus.SUCCEEDED,
                now,
                now,
                [e.pk for e in entries],
                [json.dumps(e.result, cls=DjangoJSONEncoder) for e in entries],
            ],
        )


@transaction.atomic
def entries_report_many(*, client: AdapterClient, reports: list[dict[str, Any]]) -> list[ReportResult]:
    """Apply ``reports`` (each ``{"entry": id, "outcome": "success" | "failure", …}`` with the
    fields of the single-entry report) for ``client``; one result per report, in order.
    A malformed call is refused whole (``ValidationFailed``) and changes nothing."""
    _check_shape(reports)
    ids = [r["entry"] for r in reports]
    scope = {"resource_id__in": client.resources.values("pk")}
    mine = ProvisioningEntry.objects.filter(pk__in=ids, **scope)
    # the pipeline's lock order: requests (by id), then entries (by id)
    requests_lock_of(ids, **scope)
    entries = {
        e.pk: e for e in mine.select_for_update(of=("self",)).select_related("resource").order_by("pk")
    }
    now = timezone.now()
    results: list[ReportResult] = []
    succeeded: list[ProvisioningEntry] = []
    with audit_batch():
        for report in reports:
            entry_id = report["entry"]
            entry = entries.get(entry_id)
            if entry is None:
                error = EntryNotFound(f"No provisioning entry #{entry_id} for adapter {client.name}.")
                results.append(ReportResult(entry_id, error=error))
                continue
            if report["outcome"] == "failure":
                try:
                    failed = entry_report_failure(
                        client=client,
                        entry_id=entry_id,
                        reason=report.get("reason", ""),
                        final=report.get("final", False),
                        retry_after_seconds=report.get("retry_after_seconds"),
                    )
                except DomainError as exc:
                    results.append(ReportResult(entry_id, error=exc))
                else:
                    results.append(ReportResult(entry_id, entry=failed))
                continue
            if entry.status == EntryStatus.SUCCEEDED and entry.lease_owner_id == client.pk:
                results.append(ReportResult(entry_id, entry=entry))  # reported twice: the first decided
                continue
            try:
                _check_leased_to(entry, client)
            except DomainError as exc:
                results.append(ReportResult(entry_id, error=exc))
                continue
            entry.status = EntryStatus.SUCCEEDED
            entry.result = {
                "native_identifier": (report.get("native_identifier") or "").strip(),
                "attributes": _clean_attributes(report.get("attributes")),
                "detail": report.get("detail", ""),
            }
            entry.lease_until, entry.finished_at, entry.updated_at = None, now, now
            succeeded.append(entry)
            audit_record(
                actor=None,
                action="provisioning.entry_succeeded",
                obj=entry,
                old={"status": EntryStatus.PULLED},
                new={"status": entry.status, "adapter": client.name, **entry.result},
                source=SOURCE,
                subject_user_id=entry.user_id_ref,
            )
            results.append(ReportResult(entry_id, entry=entry))
        if succeeded:
            _write_successes(succeeded, now)
            _remember_native_identifiers(succeeded)
        requests_settled(e.request_id for e in succeeded)
        entries_settle(succeeded)
    return results
