"""Configuration of task SLAs (seed "Tarefas"): calendars and holidays, task definitions,
escalation policies and their steps. Each service validates (``ValidationFailed`` with the field
at fault), saves, writes its audit event, and — when it moves escalation times — asks the sweep to
re-read the open tasks concerned (``tasks_recheck_escalation``). The business-hour arithmetic is
in ``worklist.services.calendar``; matching definitions to tasks and the escalation sweep are in
``requests_workflow.services.sla`` for now."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F

from blazon.audit.services import audit_record
from blazon.changes import changes, config_create, config_delete, config_update, field_error, snapshot
from blazon.errors import Conflict, ValidationFailed
from directory.models import Criticality, User
from worklist.models import (
    Calendar,
    EscalationAction,
    EscalationPolicy,
    EscalationStep,
    Holiday,
    Queue,
    Task,
    TaskDefinition,
    TaskKind,
    TaskStatus,
)
from worklist.registry import subject_type_choices


def tasks_recheck_escalation(tasks: models.QuerySet[Task]) -> int:
    """Configuration changed (steps, calendar, holidays, definition): ask the sweep to re-read
    these open tasks, whose escalation times may have moved (one UPDATE)."""
    return tasks.filter(status=TaskStatus.OPEN).update(next_escalation_at=F("created_at"))


# --- configuration services -------------------------------------------------------------------


_fail = field_error
_changes = changes


def _snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    return snapshot(obj, fields, m2m_value="username")  # step users are audited by username


def _save(obj: models.Model, *, conflict_field: str, conflict_message: str) -> None:
    """Model checks, then save; a unique-constraint race is a Conflict, never a 500."""
    try:
        with transaction.atomic():
            obj.full_clean(validate_unique=False, validate_constraints=False)
            obj.save()
    except DjangoValidationError as exc:
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        raise ValidationFailed(
            "Invalid input: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()), fields=fields
        ) from None
    except IntegrityError:
        raise Conflict(conflict_message, fields={conflict_field: [conflict_message]}) from None


def _named(action: str, fields: tuple[str, ...], taken: str) -> dict[str, Any]:
    """How the configuration helpers write an object with a unique name: model checks first,
    a name taken by a concurrent save becomes ``taken`` on the name field."""
    return {"fields": fields, "action": action, "conflict": taken, "conflict_field": "name", "validate": True}


def _text(data: Mapping[str, Any], name: str, *, required: bool = True, default: str = "") -> str:
    value = data.get(name, default)
    value = "" if value is None else str(value).strip()
    if required and not value:
        raise _fail(name, "Required.")
    return value


def _positive_int(data: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    value = data.get(name, default)
    try:
        number = int(value)
        if isinstance(value, float | Decimal) and number != value:
            raise ValueError
    except (TypeError, ValueError):
        raise _fail(name, "Expected a whole number.") from None
    if number < 1:
        raise _fail(name, "Expected a whole number, 1 or more.")
    return number


def _instance(model: type[models.Model], value: Any, field: str, label: str) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, model):
        return value
    try:
        return model._default_manager.get(pk=int(value))
    except (ObjectDoesNotExist, TypeError, ValueError):
        raise _fail(field, f"Unknown {label}: {value!r}.") from None


def _time(value: Any, field: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise _fail(field, "Expected a time as HH:MM.") from None


# calendars


CALENDAR_FIELDS = ("name", "timezone", "working_days", "day_start", "day_end")


def _calendar_apply(calendar: Calendar, data: Mapping[str, Any]) -> None:
    calendar.name = _text(data, "name", default=calendar.name)
    tz = _text(data, "timezone", default=calendar.timezone)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(
            "timezone", f"Unknown time zone {tz!r}: give an IANA name such as Europe/Lisbon."
        ) from None
    calendar.timezone = tz
    days = data.get("working_days", calendar.working_days)
    if isinstance(days, str | bytes) or not isinstance(days, Iterable):
        raise _fail("working_days", "Expected a list of weekdays, 0 = Monday … 6 = Sunday.")
    try:
        parsed = sorted({int(d) for d in days})
    except (TypeError, ValueError):
        raise _fail("working_days", "Expected weekdays as numbers, 0 = Monday … 6 = Sunday.") from None
    if not parsed:
        raise _fail("working_days", "Choose at least one working day.")
    if parsed[0] < 0 or parsed[-1] > 6:
        raise _fail("working_days", "Weekdays go from 0 (Monday) to 6 (Sunday).")
    calendar.working_days = parsed
    calendar.day_start = _time(data.get("day_start", calendar.day_start), "day_start")
    calendar.day_end = _time(data.get("day_end", calendar.day_end), "day_end")
    if calendar.day_end <= calendar.day_start:
        raise _fail("day_end", "The working day must end after it starts (same day).")


_CALENDAR_TAKEN = "A calendar with this name already exists."


@transaction.atomic
def calendar_create(*, actor: User | None, source: str, data: Mapping[str, Any]) -> Calendar:
    """A new working-time calendar (weekdays, hours, time zone)."""
    calendar = Calendar()
    _calendar_apply(calendar, data)
    return config_create(
        calendar, actor=actor, source=source, **_named("calendar.create", CALENDAR_FIELDS, _CALENDAR_TAKEN)
    )


@transaction.atomic
def calendar_update(
    *, actor: User | None, source: str, calendar: Calendar, data: Mapping[str, Any]
) -> Calendar:
    """Change a calendar; open tasks that count on it have their escalation times re-read."""
    with config_update(
        Calendar,
        calendar.pk,
        actor=actor,
        source=source,
        **_named("calendar.update", CALENDAR_FIELDS, _CALENDAR_TAKEN),
    ) as change:
        _calendar_apply(change.obj, data)
    if change.new:
        tasks_recheck_escalation(Task.objects.filter(definition__calendar=change.obj))
    return change.obj


def _in_use(obj: Calendar | EscalationPolicy, what: str) -> None:
    users = list(obj.definitions.values_list("name", flat=True)[:5])
    if users:
        raise Conflict(
            f"{what} {obj.name} is used by task definition(s) {', '.join(users)}: change them first."
        )


@transaction.atomic
def calendar_delete(*, actor: User | None, source: str, calendar: Calendar) -> None:
    """Delete a calendar no task definition uses (with its holidays)."""
    calendar = Calendar.objects.select_for_update().get(pk=calendar.pk)
    _in_use(calendar, "Calendar")
    config_delete(calendar, fields=CALENDAR_FIELDS, actor=actor, source=source, action="calendar.delete")


@transaction.atomic
def holiday_add(*, actor: User | None, source: str, calendar: Calendar, day: Any, name: str) -> Holiday:
    """Add a holiday (a local date of the calendar) on which no business hours count."""
    calendar = Calendar.objects.select_for_update().get(pk=calendar.pk)
    if isinstance(day, datetime):
        raise _fail("date", "Expected a date, not a date and time.")
    if not isinstance(day, date):
        try:
            day = date.fromisoformat(str(day))
        except ValueError:
            raise _fail("date", "Expected a date as YYYY-MM-DD.") from None
    name = (name or "").strip()
    if not name:
        raise _fail("name", "Required.")
    holiday = Holiday(calendar=calendar, date=day, name=name)
    _save(holiday, conflict_field="date", conflict_message=f"{calendar.name} already has a holiday on {day}.")
    audit_record(
        actor=actor,
        action="calendar.holiday_add",
        obj=calendar,
        new={"date": day, "name": name},
        source=source,
    )
    tasks_recheck_escalation(Task.objects.filter(definition__calendar=calendar))
    return holiday


@transaction.atomic
def holiday_delete(*, actor: User | None, source: str, holiday: Holiday) -> None:
    """Remove a holiday: that day counts as a working day again."""
    holiday = Holiday.objects.select_for_update().select_related("calendar").get(pk=holiday.pk)
    audit_record(
        actor=actor,
        action="calendar.holiday_delete",
        obj=holiday.calendar,
        old={"date": holiday.date, "name": holiday.name},
        source=source,
    )
    calendar = holiday.calendar
    holiday.delete()
    tasks_recheck_escalation(Task.objects.filter(definition__calendar=calendar))


# escalation policies and steps

POLICY_FIELDS = ("name", "description")
STEP_FIELDS = ("position", "after_hours", "action", "queue", "users", "keep_assignees")


_POLICY_TAKEN = "An escalation policy with this name already exists."


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
    _in_use(policy, "Escalation policy")
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
        raise _fail("action", f"Unknown action {action!r}.")
    step.action = action
    step.keep_assignees = bool(data.get("keep_assignees", step.keep_assignees))
    queue = _instance(Queue, data.get("queue", step.queue_id), "queue", "queue")
    if action == EscalationAction.ESCALATE_QUEUE and queue is None:
        raise _fail("queue", "Choose the queue to escalate to.")
    step.queue = queue if action == EscalationAction.ESCALATE_QUEUE else None
    users: list[User] | None = None
    if "users" in data:
        raw = data.get("users") or []
        if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
            raise _fail("users", "Expected a list of users.")
        users = [_instance(User, u, "users", "user") for u in raw]
    if action == EscalationAction.ESCALATE_USERS:
        chosen = users if users is not None else (list(step.users.all()) if step.pk else [])
        if not chosen:
            raise _fail("users", "Choose the users to escalate to.")
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


# task definitions

DEFINITION_FIELDS = (
    "name",
    "active",
    "priority",
    "task_kind",
    "request_types",
    "criticality",
    "sla_hours",
    "calendar",
    "escalation_policy",
)


def _definition_apply(definition: TaskDefinition, data: Mapping[str, Any]) -> None:
    definition.name = _text(data, "name", default=definition.name)
    definition.active = bool(data.get("active", definition.active))
    priority = data.get("priority", definition.priority)
    try:
        definition.priority = int(priority)
    except (TypeError, ValueError):
        raise _fail("priority", "Expected a whole number.") from None
    if definition.priority < 0:
        raise _fail("priority", "Expected a whole number, 0 or more.")
    kind = _text(data, "task_kind", default=definition.task_kind)
    if kind not in TaskKind.values:
        raise _fail("task_kind", f"Unknown task kind {kind!r}.")
    definition.task_kind = kind
    types = data.get("request_types", definition.request_types) or []
    if isinstance(types, str | bytes) or not isinstance(types, Iterable):
        raise _fail("request_types", "Expected a list of request type codes.")
    types = sorted({str(t) for t in types})
    known = {code for code, _ in subject_type_choices()}
    unknown = [t for t in types if t not in known]
    if unknown:
        raise _fail("request_types", f"Unknown request type(s): {', '.join(unknown)}.")
    definition.request_types = types
    criticality = _text(data, "criticality", required=False, default=definition.criticality)
    if criticality and criticality not in Criticality.values:
        raise _fail("criticality", f"Unknown criticality {criticality!r}.")
    definition.criticality = criticality
    definition.sla_hours = _positive_int(data, "sla_hours", default=definition.sla_hours)
    definition.calendar = _instance(
        Calendar, data.get("calendar", definition.calendar_id), "calendar", "calendar"
    )
    definition.escalation_policy = _instance(
        EscalationPolicy,
        data.get("escalation_policy", definition.escalation_policy_id),
        "escalation_policy",
        "escalation policy",
    )


_DEFINITION_TAKEN = "A task definition with this name already exists."


@transaction.atomic
def task_definition_create(*, actor: User | None, source: str, data: Mapping[str, Any]) -> TaskDefinition:
    """A new task definition (SLA). It applies to tasks opened from now on."""
    definition = TaskDefinition()
    _definition_apply(definition, data)
    return config_create(
        definition,
        actor=actor,
        source=source,
        **_named("task_definition.create", DEFINITION_FIELDS, _DEFINITION_TAKEN),
    )


@transaction.atomic
def task_definition_update(
    *, actor: User | None, source: str, definition: TaskDefinition, data: Mapping[str, Any]
) -> TaskDefinition:
    """Change a definition. Open tasks keep their due date; their escalation follows the new
    calendar and policy from the next sweep."""
    with config_update(
        TaskDefinition,
        definition.pk,
        actor=actor,
        source=source,
        **_named("task_definition.update", DEFINITION_FIELDS, _DEFINITION_TAKEN),
    ) as change:
        _definition_apply(change.obj, data)
    if {"calendar", "escalation_policy"} & change.new.keys():
        tasks_recheck_escalation(Task.objects.filter(definition=change.obj))
    return change.obj


@transaction.atomic
def task_definition_delete(*, actor: User | None, source: str, definition: TaskDefinition) -> None:
    """Delete a definition: its open tasks keep their due date and stop escalating."""
    definition = TaskDefinition.objects.select_for_update().get(pk=definition.pk)
    config_delete(
        definition,
        fields=DEFINITION_FIELDS,
        actor=actor,
        source=source,
        action="task_definition.delete",
        before_delete=lambda d: Task.objects.filter(definition=d, status=TaskStatus.OPEN).update(
            next_escalation_at=None
        ),
    )
