"""The approval flow of a role change (seed 004): before an item added to or removed from a role
reaches its members, the change passes up to four steps, in order:

1. ``OWNER``: the role owner approves (any change);
2. ``SOD``: the added items are checked against the SoD rules for the role's members (an added
   item on one side of a rule, a member holding an item of another side, no valid exception);
3. ``ACCESS_OWNER``: the owners of the added entitlement (its owner) or resource (its owners)
   approve;
4. ``INTRA_ROLE``: the added items against the items the role already gives (an added item and
   a role item on two sides of one rule).

A step that finds a conflict opens a worklist task (kind ``ROLE_CHANGE``) for the owners of the
rules involved; a conflict on a rule without an owner denies the change (nobody may accept it).
A step with nobody to ask (no owner, no conflict) is recorded as not needed; a step whose only
approver is the person who asked for the change passes (they asked for it). A step switched off
(``BLAZON_ROLE_CHANGE_*`` settings) leaves no row. A rejection ends the change (REJECTED) with
the role unchanged; when every step has passed the change is fanned out (``role_change_apply``).

The directory calls :data:`approvals` through its ``RoleChangeApprovals`` port; it never imports
this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from blazon.audit.services import audit_record
from blazon.errors import NotAllowed, TransitionNotAllowed, ValidationFailed
from blazon.permissions import can
from blazon.tasks import enqueue_on_commit
from directory.models import (
    RoleChange,
    RoleChangeStatus,
    RoleEntitlement,
    RoleMembership,
    RoleResource,
    User,
    UserStatus,
)
from directory.tasks import apply_role_change
from sod.models import ItemKind, RoleChangeStep, RoleChangeStepKind, RoleChangeStepStatus
from sod.services.check import Key, RuleIndex, exceptions_valid, holdings, labels, rules_load
from worklist.models import Task, TaskKind, TaskStatus
from worklist.registry import APPROVE, REJECT, SubjectRef
from worklist.services import task_close, task_open

E, R, S = ItemKind.ENTITLEMENT.value, ItemKind.ROLE.value, ItemKind.RESOURCE.value
ROLE_CHANGE_SUBJECT = "role_change"

#: the steps in order, with the setting that switches each off
STEPS: list[tuple[str, str]] = [
    (RoleChangeStepKind.OWNER, "BLAZON_ROLE_CHANGE_OWNER_APPROVAL"),
    (RoleChangeStepKind.SOD, "BLAZON_ROLE_CHANGE_SOD_CHECK"),
    (RoleChangeStepKind.ACCESS_OWNER, "BLAZON_ROLE_CHANGE_ACCESS_OWNER_APPROVAL"),
    (RoleChangeStepKind.INTRA_ROLE, "BLAZON_ROLE_CHANGE_INTRA_ROLE_CHECK"),
]
#: steps about the added items only (a removal adds nothing)
ADD_ONLY = {RoleChangeStepKind.SOD, RoleChangeStepKind.ACCESS_OWNER, RoleChangeStepKind.INTRA_ROLE}
MAX_NAMED_USERS = 20


def _active_users(users: Iterable[User | None]) -> list[User]:
    seen: dict[int, User] = {}
    for u in users:
        if u is not None and u.status == UserStatus.ACTIVE:
            seen[u.pk] = u
    return list(seen.values())


def _added_keys(change: RoleChange) -> list[Key]:
    """The items the change adds: its entitlement, and its resource when the role lacks it."""
    keys: list[Key] = []
    if change.entitlement_id is not None:
        keys.append((E, change.entitlement_id))
        resource_id = change.entitlement.resource_id if change.entitlement else None
    else:
        resource_id = change.resource_id
    if (
        resource_id
        and not RoleResource.objects.filter(role_id=change.role_id, resource_id=resource_id).exists()
    ):
        keys.append((S, resource_id))
    return keys


def rule_conflicts(index: RuleIndex, added: list[Key], against: dict[Key, Any]) -> dict[int, set[Key]]:
    """rule -> the items of ``against`` that sit on another side than an added item of it."""
    found: dict[int, set[Key]] = defaultdict(set)
    for key in added:
        for rule_id, side in index.sides.get(key, []):
            for other in against:
                if other in added:
                    continue
                for other_rule, other_side in index.sides.get(other, []):
                    if other_rule == rule_id and other_side != side:
                        found[rule_id].add(other)
    return found


def _sod_step(change: RoleChange, index: RuleIndex) -> tuple[dict[str, Any], list[User], list[str]]:
    """Step 2: the members who would hold both sides of a rule. (detail, owners, rules without
    an owner)."""
    added = _added_keys(change)
    member_ids = set(RoleMembership.objects.filter(role_id=change.role_id).values_list("user_id", flat=True))
    held = holdings(member_ids, index)
    per_rule: dict[int, set[int]] = defaultdict(set)
    own = {f"via role {change.role.name}", "directly (role member)"}
    for user_id, items in held.items():
        # what they hold only through this very role is the intra-role step's business
        other = {k: ways for k, ways in items.items() if k != (R, change.role_id) and set(ways) - own}
        for rule_id in rule_conflicts(index, added, other):
            per_rule[rule_id].add(user_id)
    covered = exceptions_valid({(r, u) for r, users in per_rule.items() for u in users})
    usernames = dict(
        User.objects.filter(pk__in={u for us in per_rule.values() for u in us}).values_list("pk", "username")
    )
    conflicts = []
    for rule_id, users in sorted(per_rule.items()):
        users = {u for u in users if (rule_id, u) not in covered}
        if users:
            rule = index.rules[rule_id]
            conflicts.append(
                {
                    "rule": rule.code,
                    "rule_name": rule.name,
                    "owner": rule.owner_id,
                    "users": len(users),
                    "usernames": sorted(usernames.get(u, str(u)) for u in users)[:MAX_NAMED_USERS],
                }
            )
    return _conflict_outcome(conflicts, index)


def _intra_role_step(change: RoleChange, index: RuleIndex) -> tuple[dict[str, Any], list[User], list[str]]:
    """Step 4: an added item and an item the role already gives, on two sides of one rule."""
    added = _added_keys(change)
    role_items: dict[Key, Any] = {(R, change.role_id): None}
    for ent_id in RoleEntitlement.objects.filter(role_id=change.role_id).values_list(
        "entitlement_id", flat=True
    ):
        role_items[(E, ent_id)] = None
    for res_id in RoleResource.objects.filter(role_id=change.role_id).values_list("resource_id", flat=True):
        role_items[(S, res_id)] = None
    found = rule_conflicts(index, added, role_items)
    names = labels({k for keys in found.values() for k in keys} | set(added))
    conflicts = []
    for rule_id, keys in sorted(found.items()):
        rule = index.rules[rule_id]
        conflicts.append(
            {
                "rule": rule.code,
                "rule_name": rule.name,
                "owner": rule.owner_id,
                "added": [names.get(k, str(k)) for k in added if k in index.sides],
                "role_items": sorted(names.get(k, str(k)) for k in keys),
            }
        )
    return _conflict_outcome(conflicts, index)


def _conflict_outcome(
    conflicts: list[dict[str, Any]], index: RuleIndex
) -> tuple[dict[str, Any], list[User], list[str]]:
    owner_ids = {c["owner"] for c in conflicts if c["owner"]}
    owners = list(User.objects.filter(pk__in=owner_ids))
    orphan = [c["rule_name"] for c in conflicts if not c["owner"]]
    return {"conflicts": conflicts}, _active_users(owners), orphan


def _access_owners(change: RoleChange) -> list[User]:
    owners: list[User | None] = []
    if change.entitlement is not None:
        owners.append(change.entitlement.owner)
    keys = _added_keys(change)
    resource_ids = [i for k, i in keys if k == S]
    if resource_ids:
        owners.extend(User.objects.filter(owned_resources__pk__in=resource_ids))
    return _active_users(owners)


def _step(change: RoleChange, kind: str, status: str, reason: str, **fields: Any) -> RoleChangeStep:
    position = [k for k, _ in STEPS].index(kind) + 1
    return RoleChangeStep.objects.create(
        role_change=change, kind=kind, position=position, status=status, reason=reason[:500], **fields
    )


def _wait(
    change: RoleChange,
    kind: str,
    reason: str,
    approvers: list[User],
    detail: dict[str, Any],
    actor: User | None,
    source: str,
) -> RoleChangeStep:
    label = RoleChangeStepKind(kind).label
    task = task_open(
        kind=TaskKind.ROLE_CHANGE,
        title=f"{label}: {change}",
        subject=SubjectRef(ROLE_CHANGE_SUBJECT, change.pk),
        assignees=approvers,
    )
    step = _step(change, kind, RoleChangeStepStatus.WAITING, reason, detail=detail, task=task)
    step.approvers.set(approvers)
    change.status = RoleChangeStatus.WAITING
    change.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="role.change_step_opened",
        obj=change,
        object_repr=str(change),
        new={"step": kind, "task": task.pk, "approvers": [u.username for u in approvers], **detail},
        source=source,
    )
    return step


def _deny(change: RoleChange, step: RoleChangeStep, actor: User | None, source: str, reason: str) -> None:
    change.status = RoleChangeStatus.REJECTED
    change.error = reason[:2000]
    change.finished_at = timezone.now()
    change.save(update_fields=["status", "error", "finished_at"])
    audit_record(
        actor=actor,
        action="role.change_rejected",
        obj=change,
        object_repr=str(change),
        new={"step": step.kind, "reason": reason},
        source=source,
    )


def _advance(change: RoleChange, *, actor: User | None, source: str) -> bool:
    """Run the steps not yet recorded, in order, until one waits or denies. True when the change
    is held (waiting or denied), False when every step has passed."""
    done = set(RoleChangeStep.objects.filter(role_change=change).values_list("kind", flat=True))
    requester = change.requested_by_id
    index: RuleIndex | None = None
    for kind, setting in STEPS:
        if kind in done or not getattr(settings, setting, True):
            continue
        if kind in ADD_ONLY and change.action != RoleChange.Action.ADD:
            continue
        if kind == RoleChangeStepKind.OWNER:
            owner = change.role.owner
            approvers = _active_users([owner])
            if not approvers:
                _step(
                    change, kind, RoleChangeStepStatus.SKIPPED, gettext_noop("The role has no active owner.")
                )
            elif owner is not None and owner.pk == requester:
                _step(
                    change,
                    kind,
                    RoleChangeStepStatus.APPROVED,
                    "Asked for by the role owner.",
                    decided_by=owner,
                    decided_at=timezone.now(),
                )
            else:
                _wait(change, kind, "Waiting for the role owner.", approvers, {}, actor, source)
                return True
            continue
        if kind == RoleChangeStepKind.ACCESS_OWNER:
            approvers = _access_owners(change)
            if not approvers:
                _step(
                    change,
                    kind,
                    RoleChangeStepStatus.SKIPPED,
                    gettext_noop("The added items have no active owner."),
                )
            elif requester in {u.pk for u in approvers}:
                _step(
                    change,
                    kind,
                    RoleChangeStepStatus.APPROVED,
                    "Asked for by an owner of the added items.",
                    decided_by_id=requester,
                    decided_at=timezone.now(),
                )
            else:
                owners: dict[str, Any] = {"owners": sorted(u.username for u in approvers)}
                _wait(
                    change,
                    kind,
                    "Waiting for the owners of the added items.",
                    approvers,
                    owners,
                    actor,
                    source,
                )
                return True
            continue
        index = index or rules_load()
        detail, approvers, orphan = (_sod_step if kind == RoleChangeStepKind.SOD else _intra_role_step)(
            change, index
        )
        if not detail["conflicts"]:
            _step(change, kind, RoleChangeStepStatus.SKIPPED, gettext_noop("No SoD conflict."))
            continue
        if orphan:
            reason = "SoD conflict on a rule without an owner to accept it: " + ", ".join(orphan) + "."
            step = _step(
                change, kind, RoleChangeStepStatus.REJECTED, reason, detail=detail, decided_at=timezone.now()
            )
            _deny(change, step, actor, source, reason)
            return True
        found: list[dict[str, Any]] = detail["conflicts"]
        names = ", ".join(str(c["rule_name"]) for c in found)
        _wait(
            change,
            kind,
            f"SoD conflict ({names}): waiting for the rule owners.",
            approvers,
            detail,
            actor,
            source,
        )
        return True
    return False


class _Approvals:
    """The ``RoleChangeApprovals`` port of the directory (registered by ``SodConfig.ready``)."""

    def hold(self, *, change: RoleChange, actor: User | None, source: str) -> bool:
        return _advance(change, actor=actor, source=source)

    def steps(self, change_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for step in (
            RoleChangeStep.objects.filter(role_change_id__in=list(change_ids))
            .select_related("decided_by")
            .prefetch_related("approvers")
        ):
            out[step.role_change_id].append(
                {
                    "position": step.position,
                    "kind": step.kind,
                    "label": step.get_kind_display(),
                    "status": step.status,
                    "status_label": step.get_status_display(),
                    "reason": step.reason,
                    "approvers": sorted(u.username for u in step.approvers.all()),
                    "task": step.task_id,
                    "decided_by": step.decided_by.username if step.decided_by else None,
                    "decided_at": step.decided_at.isoformat() if step.decided_at else None,
                    "comment": step.comment,
                    "detail": step.detail,
                }
            )
        return dict(out)


approvals = _Approvals()


@transaction.atomic
def role_change_task_decide(
    *, actor: User, source: str, task: Task, decision: str, comment: str = "", **details: Any
) -> Task:
    """Decide a role change's step: approve = the next steps run (and, after the last, the
    fan-out); reject = the change ends REJECTED, the role unchanged. Only the step's approvers
    decide (or an administrator holding ``manage_config`` when the step has none left)."""
    step = RoleChangeStep.objects.select_for_update(of=("self",)).filter(task_id=task.pk).first()
    if step is None:
        raise ValidationFailed(_("This task belongs to no role change step."))
    change = (
        RoleChange.objects.select_for_update(of=("self",))
        .select_related("role__owner", "entitlement__owner", "resource", "requested_by")
        .get(pk=step.role_change_id)
    )
    task = Task.objects.select_for_update(of=("self",)).get(pk=task.pk)
    if task.status != TaskStatus.OPEN or step.status != RoleChangeStepStatus.WAITING:
        raise TransitionNotAllowed(
            _("Task #%(id)s is already %(status)s.") % {"id": task.pk, "status": task.status},
            code="task_closed",
        )
    if change.status != RoleChangeStatus.WAITING:
        raise TransitionNotAllowed(
            _("Role change #%(id)s is %(status)s: nothing to decide.")
            % {"id": change.pk, "status": change.status}
        )
    if decision not in (APPROVE, REJECT):
        raise ValidationFailed(
            _("Unknown decision %(decision)r.") % {"decision": decision},
            fields={"decision": [_("approve or reject.")]},
        )
    approver_ids = set(step.approvers.values_list("pk", flat=True))
    if actor is None or actor.pk == change.requested_by_id:
        raise NotAllowed(_("Nobody decides a role change they asked for."))
    if actor.pk not in approver_ids and not (
        task.assignees.filter(pk=actor.pk).exists() or (not approver_ids and can(actor, "manage_config"))
    ):
        raise NotAllowed(
            _("%(username)s may not decide task #%(id)s.") % {"username": actor.username, "id": task.pk}
        )
    comment = (comment or "").strip()
    approved = decision == APPROVE
    task_close(
        task=task,
        status=TaskStatus.APPROVED if approved else TaskStatus.REJECTED,
        actor=actor,
        comment=comment,
    )
    step.status = RoleChangeStepStatus.APPROVED if approved else RoleChangeStepStatus.REJECTED
    step.decided_by, step.decided_at, step.comment = actor, timezone.now(), comment
    step.save(update_fields=["status", "decided_by", "decided_at", "comment"])
    audit_record(
        actor=actor,
        action="role.change_step_approved" if approved else "role.change_step_rejected",
        obj=change,
        object_repr=str(change),
        new={"step": step.kind, "task": task.pk, "comment": comment},
        source=source,
    )
    if not approved:
        _deny(
            change,
            step,
            actor,
            source,
            f"{step.get_kind_display()} denied by {actor.username}" + (f": {comment}" if comment else "."),
        )
        return task
    if not _advance(change, actor=actor, source=source):
        change.status = RoleChangeStatus.PENDING
        change.save(update_fields=["status"])
        enqueue_on_commit(apply_role_change, change.pk)
    return task


def role_change_console_url(change: RoleChange) -> str:
    return reverse("console:role_change_detail", kwargs={"pk": change.role_id, "change_id": change.pk})
