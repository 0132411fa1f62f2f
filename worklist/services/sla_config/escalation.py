"""Escalation policies and their ordered steps: create, change, delete (a policy not while a task
definition uses it); a change moves the escalation times of the open tasks under the policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from blazon.audit.services import audit_record
from blazon.changes import config_create, config_delete, config_update
from directory.models import User
from worklist.models import (
    EscalationAction,
    EscalationPolicy,
    EscalationStep,
    Queue,
    Task,
)
from worklist.services.sla_config.common import (
    _changes,
    _fail,
    _in_use,
    _instance,
    _named,
    _positive_int,
    _save,
    _snapshot,
    _text,
    tasks_recheck_escalation,
)

POLICY_FIELDS = ("name", "description")
STEP_FIELDS = ("position", "after_hours", "action", "queue", "users", "keep_assignees")


_POLICY_TAKEN = gettext_noop("An escalation policy with this name already exists.")


def _policy_apply(policy: EscalationPolicy, data: Mapping[str, Any]) -> None:
    policy.name = _text(data, "name", default=policy.name)
    policy.description = _text(data, "description", required=False, default=policy.description)


@transaction.atomic
def escalation_policy_create(*, actor: User | None, source: str, data: Mapping[str, Any]) -> EscalationPolicy:
    """A new (empty) escalation policy; steps are added to it one by one."""
    policy = EscalationPolicy()
    _policy_apply(policy, {"name": "", **data})
    return config_create(
        policy, actor=actor, source=source, **_named("escalation_policy.create", POLICY_FIELDS, _POLICY_TAKEN)
    )


@transaction.atomic
def escalation_policy_update(
    *, actor: User | None, source: str, policy: EscalationPolicy, data: Mapping[str, Any]
) -> EscalationPolicy:
    """Rename or describe an escalation policy."""
    with config_update(
        EscalationPolicy,
        policy.pk,
        actor=actor,
        source=source,
        **_named("escalation_policy.update", POLICY_FIELDS, _POLICY_TAKEN),
    ) as change:
        _policy_apply(change.obj, data)
    return change.obj


@transaction.atomic
def escalation_policy_delete(*, actor: User | None, source: str, policy: EscalationPolicy) -> None:
    """Delete a policy no task definition uses (with its steps)."""
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    _in_use(policy, gettext("Escalation policy"))
    config_delete(
        policy,
        fields=POLICY_FIELDS,
        actor=actor,
        source=source,
        action="escalation_policy.delete",
        extra={"steps": policy.steps.count()},
    )


def _step_apply(step: EscalationStep, data: Mapping[str, Any]) -> list[User] | None:
    """Validate and set the step's fields; returns its users (None: leave them as they are)."""
    step.position = _positive_int(data, "position", default=step.position)
    step.after_hours = _positive_int(data, "after_hours", default=step.after_hours)
    action = _text(data, "action", default=step.action)
    if action not in EscalationAction.values:
        raise _fail("action", gettext("Unknown action %(action)r.") % {"action": action})
    step.action = action
    step.keep_assignees = bool(data.get("keep_assignees", step.keep_assignees))
    queue = _instance(Queue, data.get("queue", step.queue_id), "queue", "queue")
    if action == EscalationAction.ESCALATE_QUEUE and queue is None:
        raise _fail("queue", gettext("Choose the queue to escalate to."))
    step.queue = queue if action == EscalationAction.ESCALATE_QUEUE else None
    users: list[User] | None = None
    if "users" in data:
        raw = data.get("users") or []
        if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
            raise _fail("users", gettext("Expected a list of users."))
        users = [_instance(User, u, "users", "user") for u in raw]
    if action == EscalationAction.ESCALATE_USERS:
        chosen = users if users is not None else (list(step.users.all()) if step.pk else [])
        if not chosen:
            raise _fail("users", gettext("Choose the users to escalate to."))
    if action in (EscalationAction.ESCALATE_USERS, EscalationAction.ESCALATE_NEXT_APPROVER):
        return users  # None: leave them as they are
    return []  # the other actions name no users


def _step_saved(step: EscalationStep, users: list[User] | None) -> None:
    if users is not None:
        step.users.set(users)
    tasks_recheck_escalation(Task.objects.filter(definition__escalation_policy_id=step.policy_id))


@transaction.atomic
def escalation_step_create(
    *, actor: User | None, source: str, policy: EscalationPolicy, data: Mapping[str, Any]
) -> EscalationStep:
    """Add a step to an escalation policy; open tasks under it get it too (if due, at the next
    sweep)."""
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    step = EscalationStep(policy=policy)
    if data.get("position") in (None, ""):
        last = policy.steps.order_by("-position").values_list("position", flat=True).first() or 0
        data = {**data, "position": last + 1}
    users = _step_apply(step, data)
    _save(
        step,
        conflict_field="position",
        conflict_message=f"{policy.name} already has a step at this position.",
    )
    _step_saved(step, users)
    audit_record(
        actor=actor,
        action="escalation_policy.step_add",
        obj=policy,
        new=_snapshot(step, STEP_FIELDS),
        source=source,
    )
    return step


@transaction.atomic
def escalation_step_update(
    *, actor: User | None, source: str, step: EscalationStep, data: Mapping[str, Any]
) -> EscalationStep:
    """Change a step. A step that already ran on a task does not run again there."""
    step = EscalationStep.objects.select_for_update().select_related("policy").get(pk=step.pk)
    before = _snapshot(step, STEP_FIELDS)
    users = _step_apply(step, data)
    _save(
        step,
        conflict_field="position",
        conflict_message=f"{step.policy.name} already has a step at this position.",
    )
    _step_saved(step, users)
    old, new = _changes(before, _snapshot(step, STEP_FIELDS))
    if new:
        audit_record(
            actor=actor,
            action="escalation_policy.step_update",
            obj=step.policy,
            old={"step": step.pk, **old},
            new={"step": step.pk, **new},
            source=source,
        )
    return step


@transaction.atomic
def escalation_step_delete(*, actor: User | None, source: str, step: EscalationStep) -> None:
    """Remove a step; what it already did to tasks stays (their history keeps the action)."""
    step = EscalationStep.objects.select_for_update().select_related("policy").get(pk=step.pk)
    policy = step.policy
    audit_record(
        actor=actor,
        action="escalation_policy.step_delete",
        obj=policy,
        old={"step": step.pk, **_snapshot(step, STEP_FIELDS)},
        source=source,
    )
    step.delete()
    tasks_recheck_escalation(Task.objects.filter(definition__escalation_policy=policy))
