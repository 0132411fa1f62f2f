"""Entries of resources whose mode for the event is MANUAL: a person makes the change.

Seed 002: an event in ``MANUAL`` mode is not handed to an adapter; it becomes a PROVISIONING
task in the workspace for the resource owners (unassigned, for a console administrator, when
the resource has none). The entry stays PENDING until the task is resolved through
``services.manual`` (done: SUCCEEDED and the request goes on; not possible: FAILED and the
request is rolled back).

Entries are written set-based (a role fan-out writes thousands by COPY), so their tasks are
opened set-based too, after the writing transaction commits: ``manual_entries_open_tasks``
runs a handful of statements whatever the number of entries. The entry writers enqueue it on
commit; a periodic sweep runs it as a safety net. It is idempotent and safe to run
concurrently: the entries are locked ``FOR UPDATE SKIP LOCKED`` and only those still without a
task are taken.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.db import transaction

from blazon.audit.services import AuditEntry, audit_record_many
from directory.models import ProvisioningEvent, ProvisioningMode, Resource, UserStatus
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.signals import EntryNote, requests_lock, requests_noted
from provisioning.subjects import ENTRY_SUBJECT
from worklist.models import Task, TaskKind
from worklist.registry import SubjectRef, tasks_sla_apply
from worklist.services import tasks_open_bulk

logger = logging.getLogger("blazon.provisioning")

#: Entries per transaction; the sweep loops until none is left.
BATCH = 2000
_EVENT_LABELS = dict(ProvisioningEvent.choices)


def _waiting() -> Any:
    return ProvisioningEntry.objects.filter(
        mode=ProvisioningMode.MANUAL, status=EntryStatus.PENDING, manual_task__isnull=True
    )


def _title(row: dict[str, Any]) -> str:
    target = (
        row["account__identifier"]
        or row["entitlement__name"]
        or (row["payload"] or {}).get("identifier")
        or f"entry #{row['pk']}"
    )
    event = _EVENT_LABELS.get(row["event_type"], row["event_type"]).lower()
    return f"Provision by hand: {event} {target} on {row['resource__name']} (entry #{row['pk']})"[:300]


@transaction.atomic
def _open_batch(limit: int) -> int:
    # Lock order as in the pipeline: the requests first (waiting for them while holding no
    # entry), then the entries. A request's row must not be locked by us after the entries.
    candidates = list(_waiting().order_by("pk").values_list("request_id", flat=True)[:limit])
    if not candidates:
        return 0
    requests_lock(candidates)
    rows = list(
        _waiting()
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("pk")
        .values(
            "pk",
            "resource_id",
            "resource__name",
            "resource__code",
            "event_type",
            "account__identifier",
            "entitlement__name",
            "payload",
            "request_id",
            "user_id_ref",
        )[:limit]
    )
    if not rows:
        return 0
    # the tasks' subjects, for their SLA, through the entries' own link (one query)
    requests = {
        e.request_id: e.request
        for e in ProvisioningEntry.objects.filter(
            pk__in=[r["pk"] for r in rows], request__isnull=False
        ).select_related("request")
    }
    owners: dict[int, list[int]] = defaultdict(list)
    names: dict[int, str] = {}
    through = Resource.owners.through
    for resource_id, user_id, username in (
        through.objects.filter(
            resource_id__in={r["resource_id"] for r in rows}, user__status=UserStatus.ACTIVE
        )
        .order_by("user__username")
        .values_list("resource_id", "user_id", "user__username")
    ):
        owners[resource_id].append(user_id)
        names[user_id] = username
    tasks = tasks_open_bulk(
        kind=TaskKind.PROVISIONING,
        rows=[
            (
                requests.get(r["request_id"]),
                _title(r),
                owners.get(r["resource_id"], ()),
            )
            for r in rows
        ],
        subjects=[SubjectRef(ENTRY_SUBJECT, r["pk"]) for r in rows],
    )
    by_request: dict[int | None, list[Task]] = defaultdict(list)
    for task in tasks:
        by_request[task.request_id].append(task)
    for request_id, group in by_request.items():
        tasks_sla_apply(group, req=requests.get(request_id or 0))
    ProvisioningEntry.objects.bulk_update(
        [ProvisioningEntry(pk=r["pk"], manual_task_id=t.pk) for r, t in zip(rows, tasks, strict=True)],
        ["manual_task"],
    )

    def who(r: dict[str, Any]) -> str:
        users = owners.get(r["resource_id"])
        return ", ".join(names[u] for u in users) if users else "no owner: a console administrator"

    requests_noted(
        [
            EntryNote(
                t.request_id,
                f"Provisioning entry #{r['pk']} ({r['event_type']}) is MANUAL on "
                f"{r['resource__name']}: task #{t.pk} asks {who(r)} to make the change.",
            )
            for r, t in zip(rows, tasks, strict=True)
            if t.request_id
        ]
    )
    audit_record_many(
        (
            AuditEntry(
                action="provisioning.manual_task_opened",
                object_type=Task._meta.label,
                object_id=t.pk,
                object_repr=str(t),
                new={
                    "entry": r["pk"],
                    "resource": r["resource__code"],
                    "reason": "manual mode",
                    "assignees": who(r),
                },
                subject_user_id=r["user_id_ref"],
            )
            for r, t in zip(rows, tasks, strict=True)
        ),
        actor=None,
        source="automatic",
    )
    return len(rows)


def manual_entries_open_tasks(*, batch: int = BATCH) -> int:
    """Open the PROVISIONING task of every MANUAL entry still PENDING without one (one
    transaction per batch of ``batch`` entries); returns how many tasks were opened."""
    total = 0
    while True:
        n = _open_batch(batch)
        total += n
        if n < batch:
            break
    if total:
        logger.info("manual provisioning: %d task(s) opened", total)
    return total
