"""Configuring the request policies (issue #3, sections 2 and 3): approval policies with their
ordered levels, and validation policies. Each service validates everything first and raises
``ValidationFailed`` with field errors before writing anything; each writes its audit event in
its own transaction.

Requests in flight keep working: a policy that requests are still waiting under cannot be
deleted (deactivate it instead), and its levels cannot be removed or reordered while requests wait
for approval under it (the pipeline opens the next level by position).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Max

from blazon.audit.services import audit_record
from blazon.changes import config_create, config_update, snapshot
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.patterns import pattern_problem
from blazon.permissions import can
from directory.models import Criticality, Entitlement, Resource, Role, User, UserStatus
from requests_workflow.models import (
    PENDING_STATUSES,
    ApprovalLevel,
    ApprovalPolicy,
    ApproverKind,
    RequesterScope,
    RequestStatus,
    RequestType,
    RuleOperator,
    ValidationPolicy,
)
from worklist.models import ApprovalMode, Queue

MAX_PRIORITY = 1_000_000


def _require_config(actor: User | None) -> None:
    if actor is not None and not can(actor, "manage_config"):
        raise NotAllowed("Changing request policies needs the 'manage_config' capability.")


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        detail = " ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
        raise ValidationFailed(f"The policy was not saved. {detail}", fields=errors)


def _common(data: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    """Name, priority, types and object scope shared by both kinds of policy, checked."""
    out: dict[str, Any] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = ["Required."]
    elif len(name) > 200:
        errors["name"] = ["At most 200 characters."]
    out["name"] = name
    priority = data.get("priority", 100)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
        errors["priority"] = [f"A whole number from 0 to {MAX_PRIORITY}."]
    out["priority"] = priority
    out["active"] = bool(data.get("active", True))
    types = data.get("request_types") or []
    if not isinstance(types, list | tuple):
        errors["request_types"] = ["A list of request type codes."]
        types = []
    unknown = [t for t in types if t not in RequestType.values]
    if unknown:
        errors["request_types"] = [f"Unknown request type(s): {', '.join(map(str, unknown))}."]
    out["request_types"] = sorted(set(types), key=RequestType.values.index) if not unknown else list(types)
    for name_, model in (("resource", Resource), ("entitlement", Entitlement), ("role", Role)):
        value = data.get(name_)
        if value is not None and not isinstance(value, model):
            errors[name_] = [f"Expected a {name_}."]
        out[name_] = value
    ent, res = out.get("entitlement"), out.get("resource")
    if isinstance(ent, Entitlement) and isinstance(res, Resource) and ent.resource_id != res.pk:
        errors["entitlement"] = [f"{ent.name} is not an entitlement of {res.name}."]
    if out.get("role") is not None and (ent is not None or res is not None):
        errors["role"] = ["A policy is about a role or about a resource/entitlement, not both."]
    return out


def _name_taken(obj: Any) -> Conflict:
    return Conflict(f"A policy named {obj.name!r} already exists.", fields={"name": ["This name is taken."]})


_snapshot = snapshot


# --- approval policies --------------------------------------------------------------------------

APPROVAL_FIELDS = (
    "name",
    "active",
    "priority",
    "request_types",
    "resource",
    "entitlement",
    "role",
    "criticality",
    "beneficiary_conditions",
)


def _approval_data(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out = _common(data, errors)
    criticality = data.get("criticality") or ""
    if criticality and criticality not in Criticality.values:
        errors["criticality"] = [f"One of {', '.join(Criticality.values)}, or empty for any."]
    out["criticality"] = criticality
    conditions = data.get("beneficiary_conditions") or {}
    if not isinstance(conditions, dict):
        errors["beneficiary_conditions"] = ['An object of attribute → value, e.g. {"department": "Finance"}.']
    else:
        bad = [k for k, v in conditions.items() if not str(k).strip() or isinstance(v, dict | list)]
        if bad:
            errors["beneficiary_conditions"] = [
                f"Each condition is an attribute name and one value; check {', '.join(map(str, bad)) or 'the empty name'}."
            ]
    out["beneficiary_conditions"] = conditions
    _raise(errors)
    return out


def _policy_create(
    model: Any, build: Any, fields: Any, kind: str, actor: Any, source: str, data: dict[str, Any]
) -> Any:
    """Create a policy of ``model`` from form ``data`` (``build`` validates and converts), audited
    as ``<kind>.create``. Shared by approval and validation policies."""
    _require_config(actor)
    return config_create(
        model(**build(data)),
        fields=fields,
        actor=actor,
        source=source,
        action=f"{kind}.create",
        conflict=_name_taken,
    )


def _policy_update(
    model: Any, build: Any, fields: Any, kind: str, actor: Any, source: str, policy: Any, data: dict[str, Any]
) -> Any:
    """Change a policy (locked) with ``data``; audited as ``<kind>.update`` with only the fields
    that changed; nothing written when nothing changed."""
    _require_config(actor)
    with config_update(
        model,
        policy.pk,
        fields=fields,
        actor=actor,
        source=source,
        action=f"{kind}.update",
        conflict=_name_taken,
    ) as change:
        for name, value in build({**change.before, **data, **_objects(change.obj, data)}).items():
            setattr(change.obj, name, value)
    return change.obj


@transaction.atomic
def approval_policy_create(*, actor: User | None, source: str, **data: Any) -> ApprovalPolicy:
    """A new approval policy (no levels yet: matching requests are approved at once until one is
    added, so it is usually created inactive or its levels added straight after)."""
    saved: ApprovalPolicy = _policy_create(
        ApprovalPolicy, _approval_data, APPROVAL_FIELDS, "approval_policy", actor, source, data
    )
    return saved


@transaction.atomic
def approval_policy_update(
    *, actor: User | None, source: str, policy: ApprovalPolicy, data: dict[str, Any]
) -> ApprovalPolicy:
    """Change what an approval policy matches. Requests already past the match keep their policy."""
    saved: ApprovalPolicy = _policy_update(
        ApprovalPolicy, _approval_data, APPROVAL_FIELDS, "approval_policy", actor, source, policy, data
    )
    return saved


def _objects(obj: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The related objects of ``obj`` (the snapshot holds ids) unless ``data`` replaces them."""
    return {n: data[n] if n in data else getattr(obj, n) for n in ("resource", "entitlement", "role")}


def _in_flight(policy: ApprovalPolicy, statuses: Iterable[str] = PENDING_STATUSES) -> int:
    return policy.requests.filter(status__in=list(statuses)).count()


@transaction.atomic
def approval_policy_set_active(
    *, actor: User | None, source: str, policy: ApprovalPolicy, active: bool
) -> ApprovalPolicy:
    """Switch a policy on or off. Off: new requests no longer match it; requests already under it
    finish their approval with it."""
    _require_config(actor)
    locked = ApprovalPolicy.objects.select_for_update().get(pk=policy.pk)
    if locked.active == active:
        return locked
    locked.active = active
    locked.save(update_fields=["active"])
    audit_record(
        actor=actor,
        action="approval_policy.activate" if active else "approval_policy.deactivate",
        obj=locked,
        old={"active": not active},
        new={"active": active},
        source=source,
    )
    return locked


@transaction.atomic
def approval_policy_delete(*, actor: User | None, source: str, policy: ApprovalPolicy) -> None:
    """Delete a policy no request is in flight under; finished requests keep their history (the
    audit log names the policy) and lose the link."""
    _require_config(actor)
    locked = ApprovalPolicy.objects.select_for_update().get(pk=policy.pk)
    pending = _in_flight(locked)
    if pending:
        raise Conflict(
            f"{pending} request(s) in flight were matched by {locked.name!r}: it cannot be deleted "
            "while they run. Deactivate it instead; new requests will no longer use it.",
            code="policy_in_use",
        )
    snapshot = _snapshot(locked, APPROVAL_FIELDS)
    snapshot["levels"] = [
        {"position": lv.position, "mode": lv.mode, "approver_kind": lv.approver_kind}
        for lv in locked.levels.order_by("position")
    ]
    pk, repr_ = locked.pk, str(locked)
    locked.delete()
    audit_record(
        actor=actor,
        action="approval_policy.delete",
        object_type=ApprovalPolicy._meta.label,
        object_id=pk,
        object_repr=repr_,
        old=snapshot,
        source=source,
    )


# --- approval levels ----------------------------------------------------------------------------


def _level_data(data: dict[str, Any]) -> tuple[dict[str, Any], list[User]]:
    errors: dict[str, list[str]] = {}
    mode = data.get("mode") or ApprovalMode.ANY
    if mode not in ApprovalMode.values:
        errors["mode"] = [f"One of {', '.join(ApprovalMode.values)}."]
    kind = data.get("approver_kind") or ""
    if kind not in ApproverKind.values:
        errors["approver_kind"] = [f"One of {', '.join(ApproverKind.values)}."]
    users = list(data.get("users") or [])
    queue = data.get("queue")
    if kind == ApproverKind.USERS:
        if not users:
            errors["users"] = ["Name at least one approver."]
        elif any(not isinstance(u, User) for u in users):
            errors["users"] = ["Expected users."]
        else:
            inactive = [u.username for u in users if u.status != UserStatus.ACTIVE]
            if inactive:
                errors["users"] = [f"Not ACTIVE, so cannot approve: {', '.join(inactive)}."]
    else:
        users = []
    if kind == ApproverKind.QUEUE:
        if not isinstance(queue, Queue):
            errors["queue"] = ["Choose the queue."]
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
            f"{waiting} request(s) are waiting for approval under {policy.name!r}: {what} now would "
            "change their approval mid-way. Wait for them, or deactivate this policy and create a new one.",
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
        raise ValidationFailed("Move a level up or down.", fields={"direction": ["up or down."]})
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


# --- validation policies ------------------------------------------------------------------------

VALIDATION_FIELDS = (
    "name",
    "active",
    "priority",
    "request_types",
    "resource",
    "entitlement",
    "role",
    "justification_required",
    "justification_min_length",
    "requester_scope",
    "beneficiary_rules",
    "beneficiary_statuses",
    "max_period_days",
)


def _rules(rules: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(rules, list | tuple):
        errors["beneficiary_rules"] = ["A list of rules (attribute, operator, value)."]
        return []
    out, problems = [], []
    for number, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict):
            problems.append(f"rule {number} is not attribute/operator/value")
            continue
        attribute = str(rule.get("attribute") or "").strip()
        operator = str(rule.get("operator") or "")
        value = rule.get("value")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", attribute):
            problems.append(f"rule {number}: name the attribute (letters, digits, _)")
        if operator not in RuleOperator.values:
            problems.append(f"rule {number}: the operator is one of {', '.join(RuleOperator.values)}")
        elif operator == RuleOperator.IN:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list | tuple) or not value:
                problems.append(f"rule {number}: 'in' needs a list of values")
            else:
                value = [str(v) for v in value]
        else:
            if value is None or isinstance(value, dict | list):
                problems.append(f"rule {number}: give one value")
            value = "" if value is None else str(value)
            if operator == RuleOperator.REGEX:
                problem = pattern_problem(value)
                if problem:
                    problems.append(f"rule {number}: invalid pattern ({problem})")
        out.append({"attribute": attribute, "operator": operator, "value": value})
    if problems:
        errors["beneficiary_rules"] = [p[0].upper() + p[1:] + "." for p in problems]
    return out


def _validation_data(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out = _common(data, errors)
    out["justification_required"] = bool(data.get("justification_required", False))
    length = data.get("justification_min_length") or 0
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= 5000:
        errors["justification_min_length"] = ["A whole number from 0 to 5000."]
    out["justification_min_length"] = length
    scope = data.get("requester_scope") or ""
    if scope not in RequesterScope.values:
        errors["requester_scope"] = [f"One of {', '.join(v for v in RequesterScope.values if v)}, or empty."]
    out["requester_scope"] = scope
    out["beneficiary_rules"] = _rules(data.get("beneficiary_rules") or [], errors)
    statuses = data.get("beneficiary_statuses") or []
    if not isinstance(statuses, list | tuple) or any(s not in UserStatus.values for s in statuses):
        errors["beneficiary_statuses"] = [f"Statuses among {', '.join(UserStatus.values)}."]
    out["beneficiary_statuses"] = [s for s in UserStatus.values if s in statuses]
    days = data.get("max_period_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500):
        errors["max_period_days"] = ["A number of days from 1 to 36500, or empty for no limit."]
    out["max_period_days"] = days
    if not errors and not (
        out["justification_required"]
        or out["justification_min_length"]
        or out["requester_scope"]
        or out["beneficiary_rules"]
        or out["beneficiary_statuses"]
        or out["max_period_days"]
    ):
        errors["__all__"] = ["The policy checks nothing: set at least one rule."]
    _raise(errors)
    return out


@transaction.atomic
def validation_policy_create(*, actor: User | None, source: str, **data: Any) -> ValidationPolicy:
    """A new validation policy: new requests it matches must pass its rules."""
    saved: ValidationPolicy = _policy_create(
        ValidationPolicy, _validation_data, VALIDATION_FIELDS, "validation_policy", actor, source, data
    )
    return saved


@transaction.atomic
def validation_policy_update(
    *, actor: User | None, source: str, policy: ValidationPolicy, data: dict[str, Any]
) -> ValidationPolicy:
    """Change a validation policy; requests already created are not checked again."""
    saved: ValidationPolicy = _policy_update(
        ValidationPolicy,
        _validation_data,
        VALIDATION_FIELDS,
        "validation_policy",
        actor,
        source,
        policy,
        data,
    )
    return saved


@transaction.atomic
def validation_policy_set_active(
    *, actor: User | None, source: str, policy: ValidationPolicy, active: bool
) -> ValidationPolicy:
    """Switch a validation policy on or off for new requests."""
    _require_config(actor)
    locked = ValidationPolicy.objects.select_for_update().get(pk=policy.pk)
    if locked.active == active:
        return locked
    locked.active = active
    locked.save(update_fields=["active", "updated_at"])
    audit_record(
        actor=actor,
        action="validation_policy.activate" if active else "validation_policy.deactivate",
        obj=locked,
        old={"active": not active},
        new={"active": active},
        source=source,
    )
    return locked


@transaction.atomic
def validation_policy_delete(*, actor: User | None, source: str, policy: ValidationPolicy) -> None:
    """Delete a validation policy; it only ever applied at creation, so requests are unaffected."""
    _require_config(actor)
    locked = ValidationPolicy.objects.select_for_update().get(pk=policy.pk)
    snapshot, pk, repr_ = _snapshot(locked, VALIDATION_FIELDS), locked.pk, str(locked)
    locked.delete()
    audit_record(
        actor=actor,
        action="validation_policy.delete",
        object_type=ValidationPolicy._meta.label,
        object_id=pk,
        object_repr=repr_,
        old=snapshot,
        source=source,
    )
