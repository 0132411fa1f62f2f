"""Writing provisioning entries (the outbox) in the business transaction.

Only resources whose mode for the event is AUTOMATIC or MANUAL get an entry; DISABLED means
the application is not told. Entries never carry secrets.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.utils import timezone

from blazon.db import copy_rows
from blazon.logging import correlation_id_var
from blazon.tasks import enqueue_on_commit
from directory.models import ProvisioningMode, Resource
from provisioning.models import OPEN_STATUSES, EntryStatus, ProvisioningEntry
from provisioning.tasks import open_manual_tasks
from worklist.models import Task
from worklist.services import tasks_cancel

# The request whose entries are being written, as the pipeline says (``entries_for_request``):
# (request id, rollback?). Never read from a client's input.
_request_var: contextvars.ContextVar[tuple[int, bool] | None] = contextvars.ContextVar(
    "provisioning_entry_request", default=None
)


@contextmanager
def entries_for_request(request_id: int, *, rollback: bool = False) -> Iterator[None]:
    """Entries written inside carry out request ``request_id`` (``ProvisioningEntry.request``:
    their outcome settles it), or undo it when ``rollback`` (``rollback_of``: they settle
    nothing). The request pipeline wraps a request's directory change in it; the directory
    services it calls write the entries without knowing about requests."""
    token = _request_var.set((request_id, rollback))
    try:
        yield
    finally:
        _request_var.reset(token)


def entry_links() -> dict[str, int | None]:
    """The typed links an entry written now gets: ``request_id`` and ``rollback_of_id``. For
    writers that build rows themselves (``directory.services.lifecycle``)."""
    current = _request_var.get()
    if current is None:
        return {"request_id": None, "rollback_of_id": None}
    request_id, rollback = current
    return {
        "request_id": None if rollback else request_id,
        "rollback_of_id": request_id if rollback else None,
    }


def _manual_written() -> None:
    """MANUAL entries were written: their workspace tasks are opened after commit (set-based)."""

    enqueue_on_commit(open_manual_tasks)


def resource_provisions(resource: Resource, event_type: str) -> bool:
    return resource.mode_for(event_type) != ProvisioningMode.DISABLED


def entry_write(
    *,
    resource: Resource,
    event_type: str,
    account_id: int | None = None,
    entitlement_id: int | None = None,
    user_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> ProvisioningEntry | None:
    """Write one entry if the resource provisions this event; returns it or None."""
    mode = resource.mode_for(event_type)
    if mode == ProvisioningMode.DISABLED:
        return None
    if mode == ProvisioningMode.MANUAL:
        _manual_written()
    return ProvisioningEntry.objects.create(
        resource=resource,
        event_type=event_type,
        mode=mode,
        status=EntryStatus.PENDING,
        account_id=account_id,
        entitlement_id=entitlement_id,
        user_id_ref=user_id,
        payload=payload or {},
        correlation_id=correlation_id_var.get() or "",
        **entry_links(),
        created_at=timezone.now(),
    )


def entries_write_many(
    *, resource: Resource, event_type: str, rows: Iterable[dict[str, Any]], chunk_size: int = 5000
) -> int:
    """Write entries for many rows (dicts with account_id, entitlement_id, user_id, payload),
    in chunks; returns the count written (0 when the resource does not provision the event)."""
    mode = resource.mode_for(event_type)
    if mode == ProvisioningMode.DISABLED:
        for _ in rows:  # drain generators so callers behave the same either way
            pass
        return 0
    now = timezone.now()
    cid = correlation_id_var.get() or ""
    links = entry_links()
    written = copy_rows(
        ProvisioningEntry._meta.db_table,
        COPY_COLUMNS,
        (_copy_row(resource.pk, event_type, mode, {**links, **row}, cid, now) for row in rows),
    )
    if written and mode == ProvisioningMode.MANUAL:
        _manual_written()
    return written


def entries_write_mixed(rows: Iterable[dict[str, Any]]) -> int:
    """Write entries for rows that differ in resource, event, request and correlation id (dicts
    with resource, event_type, account_id, entitlement_id, user_id, payload and optionally
    request_id and correlation_id), in one COPY and in the given order; rows whose resource
    does not provision their event are skipped, as ``entry_write`` does. Returns the count
    written."""
    now = timezone.now()
    cid = correlation_id_var.get() or ""
    links = entry_links()
    modes: set[str] = set()

    def selected() -> Iterable[tuple[dict[str, Any], str]]:
        for row in rows:
            mode = row["resource"].mode_for(row["event_type"])
            if mode != ProvisioningMode.DISABLED:
                modes.add(mode)
                yield row, mode

    written = copy_rows(
        ProvisioningEntry._meta.db_table,
        COPY_COLUMNS,
        (
            _copy_row(
                row["resource"].pk,
                row["event_type"],
                mode,
                {**links, **row},
                row.get("correlation_id", cid),
                now,
            )
            for row, mode in selected()
        ),
    )
    if ProvisioningMode.MANUAL in modes:
        _manual_written()
    return written


# COPY bypasses the model's defaults: every NOT NULL column is written here.
COPY_COLUMNS = (
    "resource_id",
    "event_type",
    "mode",
    "status",
    "account_id",
    "entitlement_id",
    "user_id_ref",
    "payload",
    "correlation_id",
    "request_id",
    "rollback_of_id",
    "created_at",
    "attempts",
    "transient_failures",
    "last_error",
    "result",
)


def _copy_row(
    resource_id: int, event_type: str, mode: str, row: dict[str, Any], cid: str, now: Any
) -> tuple[Any, ...]:
    return (
        resource_id,
        event_type,
        mode,
        EntryStatus.PENDING,
        row.get("account_id"),
        row.get("entitlement_id"),
        row.get("user_id"),
        json.dumps(row.get("payload") or {}),
        cid,
        row.get("request_id"),
        row.get("rollback_of_id"),
        now,
        0,
        0,
        "",
        "{}",
    )


def entries_cancel_pending_for_account(*, account_id: int) -> int:
    """Cancel entries not yet pulled for an account removed from the directory without revocation
    (and the open manual tasks of those in MANUAL mode: nobody has to do them any more)."""
    pending = ProvisioningEntry.objects.filter(account_id=account_id, status=EntryStatus.PENDING)
    tasks_cancel(
        Task.objects.filter(pk__in=pending.filter(manual_task__isnull=False).values("manual_task_id")),
        comment="The account was removed from the directory.",
    )
    return pending.update(status=EntryStatus.CANCELED, updated_at=timezone.now())


#: Entry statuses meaning the application may have received the change (pulled, done, or
#: waiting for someone to resolve it by hand).
DELIVERED_STATUSES = (EntryStatus.PULLED, EntryStatus.SUCCEEDED, EntryStatus.WAITING_FAILOVER_RESOLVING)


def entries_delivered_for_account(*, account_id: int) -> int:
    """How many of an account's entries the application may have acted on: 0 means the
    application never received the account (only pending, failed or canceled entries)."""
    return ProvisioningEntry.objects.filter(account_id=account_id, status__in=DELIVERED_STATUSES).count()


def entries_count_for_resource(*, resource_id: int) -> int:
    """How many entries a resource has, history included (they keep it from being deleted)."""
    return ProvisioningEntry.objects.filter(resource_id=resource_id).count()


def users_with_open_entries(*, user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` with an entry the applications have not settled yet (pending,
    pulled, or waiting for a manual resolution)."""
    return {
        user_id
        for user_id in ProvisioningEntry.objects.filter(
            user_id_ref__in=list(user_ids), status__in=OPEN_STATUSES
        )
        .values_list("user_id_ref", flat=True)
        .distinct()
        if user_id is not None
    }


def entries_write_for_accounts(
    rows: Iterable[tuple[int, int, int | None, str, dict[str, str]]], *, event_type: str, reason: str
) -> int:
    """One entry per account whose resource provisions ``event_type`` (AUTOMATIC or MANUAL),
    across resources in one insert; ``rows`` are (account id, resource id, owner id, identifier,
    the resource's provisioning modes). ``entries_write_many`` takes a single resource; a user's
    accounts are on as many resources as they have accounts, so calling it per resource would
    cost one query per account. Same row shape and rules as that writer. Returns the count."""
    now = timezone.now()
    cid = correlation_id_var.get() or ""
    links = entry_links()  # the request being carried out, if any
    batch = []
    for account_id, resource_id, owner_id, identifier, modes in rows:
        mode = modes.get(event_type, ProvisioningMode.DISABLED)
        if mode == ProvisioningMode.DISABLED:
            continue
        batch.append(
            ProvisioningEntry(
                resource_id=resource_id,
                event_type=event_type,
                mode=mode,
                status=EntryStatus.PENDING,
                account_id=account_id,
                user_id_ref=owner_id,
                payload={"reason": reason, "identifier": identifier},
                correlation_id=cid,
                **links,
                created_at=now,
            )
        )
    if batch:
        ProvisioningEntry.objects.bulk_create(batch, batch_size=5000)
    return len(batch)


def vendor() -> str:
    return connection.vendor
