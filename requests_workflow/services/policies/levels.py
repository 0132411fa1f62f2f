"""The ordered approval levels of a policy: add, change, remove, move (not while requests wait for
approval under the policy: the pipeline opens the next level by position)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, ValidationFailed
from directory.models import User, UserStatus
from requests_workflow.models import (
    ApprovalLevel,
    ApprovalPolicy,
    ApproverKind,
    RequestStatus,
)
from requests_workflow.services.policies.common import (
    _in_flight,
    _require_config,
)
from worklist.models import ApprovalMode, Queue


def _level_data(data: dict[str, Any]) -> tuple[dict[str, Any], list[User]]:
    errors: dict[str, list[str]] = {}
    mode = data.get("mode") or ApprovalMode.ANY
    if mode not in ApprovalMode.values:
        errors["mode"] = [gettext("One of %(values)s.") % {"values": ", ".join(ApprovalMode.values)}]
    kind = data.get("approver_kind") or ""
    if kind not in ApproverKind.values:
        errors["approver_kind"] = [gettext("One of %(values)s.") % {"values": ", ".join(ApproverKind.values)}]
    users = list(data.get("users") or [])
    queue = data.get("queue")
    if kind == ApproverKind.USERS:
        if not users:
            errors["users"] = [gettext("Name at least one approver.")]
        elif any(not isinstance(u, User) for u in users):
            errors["users"] = [gettext("Expected users.")]
        else:
            inactive = [u.username for u in users if u.status != UserStatus.ACTIVE]
            if inactive:
                errors["users"] = [
                    gettext("Not ACTIVE, so cannot approve: %(inactive)s.")
                    % {"inactive": ", ".join(inactive)}
                ]
    else:
        users = []
    if kind == ApproverKind.QUEUE:
        if not isinstance(queue, Queue):
            errors["queue"] = [gettext("Choose the queue.")]
    else:
        queue = None
    if errors:
        raise ValidationFailed(
            "The level was not saved. " + " ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()),
            fields=errors,
        )
    return {"mode": mode, "approver_kind": kind, "queue": queue}, users


def _level_snapshot(level: ApprovalLevel) -> dict[str, Any]:
    return {
        "position": level.position,
        "mode": level.mode,
        "approver_kind": level.approver_kind,
        "queue": level.queue_id,
        "users": sorted(level.users.values_list("username", flat=True)),
    }


def _audit_level(actor: Any, source: str, action: str, policy: ApprovalPolicy, **values: Any) -> None:
    audit_record(actor=actor, action=f"approval_policy.{action}", obj=policy, source=source, **values)


def _refuse_if_waiting(policy: ApprovalPolicy, what: str) -> None:
    waiting = _in_flight(policy, (RequestStatus.WAITING_APPROVAL,))
    if waiting:
        raise Conflict(
            gettext(
                "%(waiting)s request(s) are waiting for approval under %(name)r: %(what)s now would change their approval mid-way. Wait for them, or deactivate this policy and create a new one."
            )
            % {"waiting": waiting, "name": policy.name, "what": what},
            code="policy_in_use",
        )


@transaction.atomic
def approval_level_add(
    *, actor: User | None, source: str, policy: ApprovalPolicy, **data: Any
) -> ApprovalLevel:
    """Append a level to a policy (it runs after the existing ones)."""
    _require_config(actor)
    locked = ApprovalPolicy.objects.select_for_update().get(pk=policy.pk)
    values, users = _level_data(data)
    position = (locked.levels.aggregate(m=Max("position"))["m"] or 0) + 1
    level = ApprovalLevel.objects.create(policy=locked, position=position, **values)
    level.users.set(users)
    _audit_level(actor, source, "level_add", locked, new=_level_snapshot(level))
    return level


@transaction.atomic
def approval_level_update(
    *, actor: User | None, source: str, level: ApprovalLevel, data: dict[str, Any]
) -> ApprovalLevel:
    """Change who approves at a level and how (any one or all). Tasks already open keep their
    assignees; the change applies to levels opened from now on."""
    _require_config(actor)
    ApprovalPolicy.objects.select_for_update().get(pk=level.policy_id)
    locked = ApprovalLevel.objects.select_related("policy").get(pk=level.pk)
    old = _level_snapshot(locked)
    values, users = _level_data(data)
    for name, value in values.items():
        setattr(locked, name, value)
    locked.save()
    locked.users.set(users)
    new = _level_snapshot(locked)
    if new != old:
        _audit_level(actor, source, "level_update", locked.policy, old=old, new=new)
    return locked


def _renumber(policy: ApprovalPolicy, ordered: list[ApprovalLevel]) -> None:
    """Give ``ordered`` the positions 1..n without breaking the unique (policy, position) rule:
    move them out of the way first, then into place."""
    top = (policy.levels.aggregate(m=Max("position"))["m"] or 0) + 1
    for offset, level in enumerate(ordered):
        ApprovalLevel.objects.filter(pk=level.pk).update(position=top + offset)
    for number, level in enumerate(ordered, start=1):
        ApprovalLevel.objects.filter(pk=level.pk).update(position=number)
        level.position = number


@transaction.atomic
def approval_level_remove(*, actor: User | None, source: str, level: ApprovalLevel) -> None:
    """Remove a level; the following ones move up."""
    _require_config(actor)
    policy = ApprovalPolicy.objects.select_for_update().get(pk=level.policy_id)
    _refuse_if_waiting(policy, "removing a level")
    locked = ApprovalLevel.objects.get(pk=level.pk)
    old = _level_snapshot(locked)
    locked.delete()
    _renumber(policy, list(policy.levels.order_by("position")))
    _audit_level(actor, source, "level_remove", policy, old=old)


@transaction.atomic
def approval_level_move(
    *, actor: User | None, source: str, level: ApprovalLevel, direction: str
) -> ApprovalLevel:
    """Move a level one place up (earlier) or down (later)."""
    _require_config(actor)
    if direction not in ("up", "down"):
        raise ValidationFailed(
            gettext("Move a level up or down."), fields={"direction": [gettext("up or down.")]}
        )
    policy = ApprovalPolicy.objects.select_for_update().get(pk=level.policy_id)
    levels = list(policy.levels.order_by("position"))
    index = next(i for i, lv in enumerate(levels) if lv.pk == level.pk)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(levels):
        return levels[index]
    _refuse_if_waiting(policy, "reordering levels")
    old = [lv.position for lv in levels]
    levels[index], levels[other] = levels[other], levels[index]
    _renumber(policy, levels)
    moved = next(lv for lv in levels if lv.pk == level.pk)
    _audit_level(
        actor, source, "level_move", policy, old={"position": old[index]}, new={"position": moved.position}
    )
    return moved
