"""Detective SoD (seed 002, "Sistematicamente"): the periodic scan of every active user against
every active rule.

One SQL statement finds every (user, rule) holding items of two sides: the items rules name are
joined to the memberships, role memberships and accounts that hold them (driven by the rule
items, through the directory's indexes), grouped per user and rule, and only the pairs touching
two sides come back with their items. The scan then reconciles that set with the recorded
violations in a few statements: new ones are created, those still there refreshed, those gone
resolved (their open tasks canceled); a violation without a valid exception gets a worklist task
for the rule's owner, one with an exception is "accepted" — until the exception expires or is
revoked, when the next scan reopens it with a new task. Python work is proportional to the
violations, never to the directory.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from blazon.audit.services import AuditEntry, audit_record, audit_record_many
from blazon.outbox.services import outbox_batch
from directory.models import (
    Account,
    AccountRoleGrant,
    EntitlementMembership,
    MembershipRoleGrant,
    RoleMembership,
    User,
)
from sod.models import SoDRule, SoDRuleItem, SoDViolation, ViolationStatus
from sod.services.check import exceptions_valid
from sod.subjects import violation_subject
from worklist.models import Task, TaskKind
from worklist.services import tasks_cancel, tasks_open_bulk

V = ViolationStatus


def _tables() -> dict[str, str]:
    return {
        "item": SoDRuleItem._meta.db_table,
        "rule": SoDRule._meta.db_table,
        "member": EntitlementMembership._meta.db_table,
        "account": Account._meta.db_table,
        "user": User._meta.db_table,
        "rolemember": RoleMembership._meta.db_table,
    }


# The holdings of every active user for every item of every active rule, and among them the
# (user, rule) pairs that touch two sides. ``ref_id``: the membership, role membership or
# account that holds the item (for the lineage). The items' ids are given as literal lists
# (integers read from the rule items, never user input): the planner then estimates the rows
# from the memberships' own statistics and drives the scan through the (entitlement, account)
# index, whatever the statistics of the small rule tables say.
SCAN_SQL = """
WITH hits AS (
    SELECT a.owner_id AS user_id, i.rule_id, i.side, i.kind, i.entitlement_id AS item_id,
           m.id AS ref_id, m.manual AS manual
      FROM {member} m
      JOIN {item} i ON i.entitlement_id = m.entitlement_id AND i.kind = 'ENTITLEMENT'
      JOIN {rule} r ON r.id = i.rule_id AND r.active
      JOIN {account} a ON a.id = m.account_id AND a.status <> 'REVOKED'
      JOIN {user} u ON u.id = a.owner_id AND u.status = 'ACTIVE'
     WHERE m.entitlement_id IN ({entitlements})
    UNION ALL
    SELECT rm.user_id, i.rule_id, i.side, i.kind, i.role_id, rm.id, TRUE
      FROM {rolemember} rm
      JOIN {item} i ON i.role_id = rm.role_id AND i.kind = 'ROLE'
      JOIN {rule} r ON r.id = i.rule_id AND r.active
      JOIN {user} u ON u.id = rm.user_id AND u.status = 'ACTIVE'
     WHERE rm.role_id IN ({roles})
    UNION ALL
    SELECT a.owner_id, i.rule_id, i.side, i.kind, i.resource_id, a.id, a.manual
      FROM {account} a
      JOIN {item} i ON i.resource_id = a.resource_id AND i.kind = 'RESOURCE'
      JOIN {rule} r ON r.id = i.rule_id AND r.active
      JOIN {user} u ON u.id = a.owner_id AND u.status = 'ACTIVE'
     WHERE a.resource_id IN ({resources}) AND a.status <> 'REVOKED'
),
pairs AS (
    SELECT user_id, rule_id FROM hits GROUP BY user_id, rule_id HAVING COUNT(DISTINCT side) >= 2
)
SELECT h.user_id, h.rule_id, h.side, h.kind, h.item_id, h.ref_id, h.manual
  FROM hits h JOIN pairs p ON p.user_id = h.user_id AND p.rule_id = h.rule_id
 ORDER BY h.user_id, h.rule_id, h.side, h.item_id
"""


@dataclass
class ScanResult:
    """What one scan found and did."""

    found: int = 0
    new: int = 0
    reopened: int = 0
    accepted: int = 0
    resolved: int = 0
    tasks_opened: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _found() -> dict[tuple[int, int], list[dict[str, Any]]]:
    """(rule, user) -> the items they hold on the rule's sides, with how (direct, via roles)."""
    targets: dict[str, set[int]] = {"ENTITLEMENT": set(), "ROLE": set(), "RESOURCE": set()}
    for kind, *found in SoDRuleItem.objects.filter(rule__active=True).values_list(
        "kind", "entitlement_id", "role_id", "resource_id"
    ):
        targets[kind].update(int(i) for i in found if i is not None)
    if not any(targets.values()):
        return {}

    def id_list(kind: str) -> str:
        return ", ".join(str(int(i)) for i in sorted(targets[kind])) or "NULL"

    sql = SCAN_SQL.format(
        **_tables(), entitlements=id_list("ENTITLEMENT"), roles=id_list("ROLE"), resources=id_list("RESOURCE")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)  # noqa: S608 (internal table names and integer ids only)
        rows = cursor.fetchall()
    member_ids = [r[5] for r in rows if r[3] == "ENTITLEMENT"]
    account_ids = [r[5] for r in rows if r[3] == "RESOURCE"]
    via: dict[tuple[str, int], list[str]] = defaultdict(list)
    if member_ids:
        for ref, name in MembershipRoleGrant.objects.filter(membership_id__in=member_ids).values_list(
            "membership_id", "role__name"
        ):
            via[("ENTITLEMENT", ref)].append(name)
    if account_ids:
        for ref, name in AccountRoleGrant.objects.filter(account_id__in=account_ids).values_list(
            "account_id", "role__name"
        ):
            via[("RESOURCE", ref)].append(name)
    labels = {
        (i.kind, i.target_id): i.label
        for i in SoDRuleItem.objects.filter(rule__active=True).only(
            "kind", "entitlement_id", "role_id", "resource_id", "label"
        )
    }
    out: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for user_id, rule_id, side, kind, item_id, ref_id, manual in rows:
        roles = sorted(via.get((kind, ref_id), []))
        out[(rule_id, user_id)].append(
            {
                "side": side,
                "kind": kind,
                "id": item_id,
                "label": labels.get((kind, item_id), f"{kind.lower()} #{item_id}"),
                "direct": bool(manual) or not roles,
                "via_roles": roles,
            }
        )
    return out


@transaction.atomic
def sod_scan(*, actor: Any = None, source: str = "automatic") -> ScanResult:
    """Scan every active user against every active rule and reconcile the recorded violations
    (see the module docstring). Safe to run twice: the second run changes nothing."""
    now = timezone.now()
    found = _found()
    live = {
        (v.rule_id, v.user_id): v
        for v in SoDViolation.objects.select_for_update(of=("self",))
        .exclude(status=V.RESOLVED)
        .select_related("exception")
    }
    covered = exceptions_valid(set(found) | set(live))
    result = ScanResult(found=len(found))
    audit: list[AuditEntry] = []
    label = SoDViolation._meta.label
    creates: list[SoDViolation] = []
    updates: list[SoDViolation] = []
    cancel_task_ids: list[int] = []
    seen: list[int] = []
    for key, items in found.items():
        exc = covered.get(key)
        status = V.ACCEPTED if exc is not None else V.OPEN
        violation = live.get(key)
        if violation is None:
            creates.append(
                SoDViolation(
                    rule_id=key[0],
                    user_id=key[1],
                    status=status,
                    items=items,
                    exception=exc,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
            continue
        before = violation.status
        if (
            violation.items == items
            and before == status
            and violation.exception_id == getattr(exc, "pk", None)
        ):
            seen.append(violation.pk)  # unchanged: only "last seen" moves (one UPDATE for all)
            continue
        violation.items, violation.last_seen_at, violation.exception = items, now, exc
        violation.status = status
        if before == V.ACCEPTED and status == V.OPEN:
            violation.task = None  # the exception ended: a new decision is needed
            result.reopened += 1
            audit.append(
                AuditEntry(
                    "sod_violation.reopened",
                    label,
                    violation.pk,
                    str(violation),
                    old={"status": before},
                    new={"status": status, "why": "the exception expired or was revoked"},
                    subject_user_id=violation.user_id,
                )
            )
        elif before == V.OPEN and status == V.ACCEPTED:
            result.accepted += 1
            if violation.task_id:
                cancel_task_ids.append(violation.task_id)
            audit.append(
                AuditEntry(
                    "sod_violation.accepted",
                    label,
                    violation.pk,
                    str(violation),
                    old={"status": before},
                    new={"status": status, "exception": exc.pk if exc else None},
                    subject_user_id=violation.user_id,
                )
            )
        updates.append(violation)
    gone = [v for key, v in live.items() if key not in found]
    for violation in gone:
        violation.status, violation.resolved_at = V.RESOLVED, now
        if violation.task_id:
            cancel_task_ids.append(violation.task_id)
        audit.append(
            AuditEntry(
                "sod_violation.resolved",
                label,
                violation.pk,
                str(violation),
                old={"status": V.OPEN},
                new={"status": V.RESOLVED},
                subject_user_id=violation.user_id,
            )
        )
    result.resolved = len(gone)
    created = SoDViolation.objects.bulk_create(creates)
    result.new = len(created)
    for violation in created:
        audit.append(
            AuditEntry(
                "sod_violation.found",
                label,
                violation.pk,
                f"violation of rule {violation.rule_id}",
                new={"status": violation.status, "items": [i["label"] for i in violation.items]},
                subject_user_id=violation.user_id,
            )
        )
    for chunk in range(0, len(seen), 5000):
        SoDViolation.objects.filter(pk__in=seen[chunk : chunk + 5000]).update(last_seen_at=now)
    SoDViolation.objects.bulk_update(
        updates + gone,
        ["items", "last_seen_at", "exception", "status", "task", "resolved_at"],
        batch_size=2000,
    )
    if cancel_task_ids:
        tasks_cancel(
            Task.objects.filter(pk__in=cancel_task_ids), comment="The SoD violation is resolved or accepted."
        )
    result.tasks_opened = _open_tasks(now)
    if audit:
        audit_record_many(audit, actor=actor, source=source)
    audit_record(
        actor=actor,
        action="sod.scan",
        object_type="sod.scan",
        object_id=None,
        object_repr="SoD scan",
        new=result.as_dict(),
        source=source,
    )
    return result


def _open_tasks(now: Any) -> int:
    """A task for every open violation that has none (the rule's owner decides; no owner: a
    console administrator); three statements for the tasks, one for the links."""
    waiting = list(
        SoDViolation.objects.filter(status=V.OPEN, task__isnull=True)
        .select_related("rule", "user")
        .order_by("pk")
    )
    if not waiting:
        return 0
    rows = []
    for v in waiting:
        owners = [v.rule.owner_id] if v.rule.owner_id and v.rule.owner_id != v.user_id else []
        sides = sorted({i["label"] for i in v.items})
        title = f"SoD violation {v.rule.name}: {v.user} holds {', '.join(sides)}"
        rows.append((None, title, owners))
    with outbox_batch():  # the kind's notifications: one INSERT for all the new tasks
        tasks = tasks_open_bulk(
            kind=TaskKind.SOD, rows=rows, subjects=[violation_subject(v) for v in waiting]
        )
    for v, task in zip(waiting, tasks, strict=True):
        v.task = task
    SoDViolation.objects.bulk_update(waiting, ["task"], batch_size=2000)
    return len(tasks)
