"""Task SLAs (seed 002, "Tarefas": definitions, escalation policies, queues and calendars).

* **Calendars** say when people work: weekdays and hours in one IANA time zone, minus holidays.
  ``business_deadline`` and ``business_hours_between`` count business hours on them; with no
  calendar they count plain clock hours.
* **Task definitions** give a kind of task its SLA: when a task is opened the most specific
  active definition that matches it (kind, then request types / criticality; ties: lowest
  priority) sets ``Task.due_at`` and is stored on the task.
* **Escalation policies** have steps that run once each, ``after_hours`` business hours after the
  task was opened (on the definition's calendar): remind the assignees, or add resolvers (the
  manager, a queue, the next approver, named users). ``tasks_escalate_due`` is the periodic sweep;
  a ``TaskEscalation`` row per (task, step), unique in the database, makes a step run once even
  when the sweep runs twice or on two workers at once.

``Task.next_escalation_at`` holds when the sweep must look at a task next, so the sweep finds the
due tasks with one indexed query. Configuration changes that move those times (steps, calendars,
holidays, definitions) set it back to the task's opening time on the open tasks concerned (one
UPDATE): the next sweep re-reads them and sets the right time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.db.models.signals import m2m_changed
from django.template.loader import render_to_string
from django.utils import timezone

from blazon.audit.services import audit_record
from blazon.errors import Conflict, ValidationFailed
from directory.models import Criticality, Source, User, UserStatus
from requests_workflow.models import (
    ApprovalLevel,
    ApproverKind,
    Calendar,
    EscalationAction,
    EscalationPolicy,
    EscalationStep,
    Holiday,
    Queue,
    Request,
    RequestStatus,
    RequestType,
    Task,
    TaskDefinition,
    TaskEscalation,
    TaskKind,
    TaskStatus,
)
from requests_workflow.services.common import request_event

logger = logging.getLogger(__name__)

#: How far ahead the calendar walk looks before it gives up (a calendar that is all holidays).
MAX_DAYS = 3660
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SWEEP_BATCH = 500


# --- calendar math ----------------------------------------------------------------------------


def _hours(value: float | int | Decimal) -> timedelta:
    return timedelta(hours=float(value))


def _windows(calendar: Calendar, first: date) -> Iterable[tuple[datetime, datetime]]:
    """The working windows of ``calendar`` (as UTC instants) from the local day ``first`` on."""
    tz = ZoneInfo(calendar.timezone)
    days = {int(d) for d in calendar.working_days or []}
    holidays = {h.date for h in calendar.holidays.all()}  # uses a prefetch when there is one
    for offset in range(MAX_DAYS):
        day = first + timedelta(days=offset)
        if day.weekday() not in days or day in holidays:
            continue
        # local wall-clock times, converted to UTC before any arithmetic (DST-safe)
        start = datetime.combine(day, calendar.day_start, tzinfo=tz).astimezone(UTC)
        end = datetime.combine(day, calendar.day_end, tzinfo=tz).astimezone(UTC)
        if end > start:
            yield start, end


def _local_date(calendar: Calendar, instant: datetime) -> date:
    return instant.astimezone(ZoneInfo(calendar.timezone)).date()


def business_deadline(calendar: Calendar | None, start: datetime, hours: float | int | Decimal) -> datetime:
    """The instant ``hours`` business hours after ``start`` on ``calendar``: time outside the
    working days and hours and on holidays does not count. No calendar: clock hours."""
    if timezone.is_naive(start):
        raise ValueError("business_deadline needs a timezone-aware start")
    start = start.astimezone(UTC)  # aware arithmetic in a local zone is wall-clock: use UTC
    remaining = _hours(hours)
    if calendar is None or remaining <= timedelta(0):
        return start + remaining
    for window_start, window_end in _windows(calendar, _local_date(calendar, start)):
        if window_end <= start:
            continue
        cursor = max(start, window_start)
        available = window_end - cursor
        if remaining <= available:
            return cursor + remaining
        remaining -= available
    raise ValidationFailed(
        f"Calendar {calendar.name} has no working time in the next {MAX_DAYS} days.",
        fields={"calendar": ["No working time."]},
    )


def business_hours_between(calendar: Calendar | None, a: datetime, b: datetime) -> float:
    """Business hours from ``a`` to ``b`` on ``calendar`` (0 when ``b`` is not after ``a``).
    No calendar: clock hours."""
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    if b <= a:
        return 0.0
    if calendar is None:
        return (b - a).total_seconds() / 3600
    total = timedelta(0)
    for window_start, window_end in _windows(calendar, _local_date(calendar, a)):
        if window_start >= b:
            break
        overlap = min(window_end, b) - max(window_start, a)
        if overlap > timedelta(0):
            total += overlap
    return total.total_seconds() / 3600


# --- task definitions: matching and applying --------------------------------------------------


def _request_criticality(req: Request | None) -> str:
    if req is None:
        return ""
    from requests_workflow.services.approvals import _criticality

    return _criticality(req)


def _specificity(definition: TaskDefinition) -> int:
    return int(bool(definition.request_types)) + int(bool(definition.criticality))


def task_definition_match(kind: str, req: Request | None) -> TaskDefinition | None:
    """The active definition for a task of ``kind`` on ``req``: among those whose conditions
    hold, the most specific (request types and criticality both set > one set > none), then the
    lowest priority, then the oldest."""
    candidates = list(
        TaskDefinition.objects.filter(task_kind=kind, active=True)
        .select_related("calendar", "escalation_policy")
        .order_by("priority", "id")
    )
    if not candidates:
        return None
    criticality = _request_criticality(req) if any(d.criticality for d in candidates) else ""
    matches = [
        d
        for d in candidates
        if (not d.request_types or (req is not None and req.type in d.request_types))
        and (not d.criticality or d.criticality == criticality)
    ]
    if not matches:
        return None
    return min(matches, key=lambda d: (-_specificity(d), d.priority, d.pk))


def _next_escalation_at(task: Task, definition: TaskDefinition | None, done: set[int]) -> datetime | None:
    """When the first step not run yet on ``task`` falls due (None: nothing left)."""
    if definition is None or definition.escalation_policy_id is None:
        return None
    hours = (
        EscalationStep.objects.filter(policy_id=definition.escalation_policy_id)
        .exclude(pk__in=done)
        .order_by("after_hours")
        .values_list("after_hours", flat=True)
        .first()
    )
    if hours is None:
        return None
    return business_deadline(definition.calendar, task.created_at, hours)


def sla_tasks_opened(tasks: Iterable[Task], *, req: Request | None) -> None:
    """Give newly opened tasks their SLA: the matching definition, ``due_at`` and when the
    escalation sweep must first look at them. Call it wherever tasks are created."""
    cache: dict[str, TaskDefinition | None] = {}
    for task in tasks:
        if task.kind not in cache:
            cache[task.kind] = task_definition_match(task.kind, req)
        definition = cache[task.kind]
        if definition is None:
            continue
        task.definition = definition
        task.due_at = business_deadline(definition.calendar, task.created_at, definition.sla_hours)
        task.next_escalation_at = _next_escalation_at(task, definition, set())
        task.save(update_fields=["definition", "due_at", "next_escalation_at"])


def _recheck(tasks: models.QuerySet[Task]) -> int:
    """Ask the sweep to re-read these open tasks (their escalation times may have moved)."""
    return tasks.filter(status=TaskStatus.OPEN).update(next_escalation_at=F("created_at"))


# --- configuration services -------------------------------------------------------------------


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def _snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            out[name] = sorted(getattr(obj, name).values_list("username", flat=True)) if obj.pk else []
        elif field.is_relation:
            out[name] = getattr(obj, field.attname)
        else:
            out[name] = getattr(obj, name)
    return out


def _changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    changed = [k for k in new if old.get(k) != new[k]]
    return {k: old.get(k) for k in changed}, {k: new[k] for k in changed}


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
        return model.objects.get(pk=int(value))
    except (model.DoesNotExist, TypeError, ValueError):
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


@transaction.atomic
def calendar_create(*, actor: User | None, source: str, data: Mapping[str, Any]) -> Calendar:
    """A new working-time calendar (weekdays, hours, time zone)."""
    calendar = Calendar()
    _calendar_apply(calendar, data)
    _save(calendar, conflict_field="name", conflict_message="A calendar with this name already exists.")
    audit_record(
        actor=actor,
        action="calendar.create",
        obj=calendar,
        new=_snapshot(calendar, CALENDAR_FIELDS),
        source=source,
    )
    return calendar


@transaction.atomic
def calendar_update(
    *, actor: User | None, source: str, calendar: Calendar, data: Mapping[str, Any]
) -> Calendar:
    """Change a calendar; open tasks that count on it have their escalation times re-read."""
    calendar = Calendar.objects.select_for_update().get(pk=calendar.pk)
    before = _snapshot(calendar, CALENDAR_FIELDS)
    _calendar_apply(calendar, data)
    _save(calendar, conflict_field="name", conflict_message="A calendar with this name already exists.")
    old, new = _changes(before, _snapshot(calendar, CALENDAR_FIELDS))
    if new:
        audit_record(actor=actor, action="calendar.update", obj=calendar, old=old, new=new, source=source)
        _recheck(Task.objects.filter(definition__calendar=calendar))
    return calendar


@transaction.atomic
def calendar_delete(*, actor: User | None, source: str, calendar: Calendar) -> None:
    """Delete a calendar no task definition uses (with its holidays)."""
    calendar = Calendar.objects.select_for_update().get(pk=calendar.pk)
    users = list(calendar.definitions.values_list("name", flat=True)[:5])
    if users:
        raise Conflict(
            f"Calendar {calendar.name} is used by task definition(s) {', '.join(users)}: change them first."
        )
    audit_record(
        actor=actor,
        action="calendar.delete",
        obj=calendar,
        old=_snapshot(calendar, CALENDAR_FIELDS),
        source=source,
    )
    calendar.delete()


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
    _recheck(Task.objects.filter(definition__calendar=calendar))
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
    _recheck(Task.objects.filter(definition__calendar=calendar))


# escalation policies and steps

POLICY_FIELDS = ("name", "description")
STEP_FIELDS = ("position", "after_hours", "action", "queue", "users", "keep_assignees")


@transaction.atomic
def escalation_policy_create(*, actor: User | None, source: str, data: Mapping[str, Any]) -> EscalationPolicy:
    """A new (empty) escalation policy; steps are added to it one by one."""
    policy = EscalationPolicy(
        name=_text(data, "name"), description=_text(data, "description", required=False)
    )
    _save(
        policy, conflict_field="name", conflict_message="An escalation policy with this name already exists."
    )
    audit_record(
        actor=actor,
        action="escalation_policy.create",
        obj=policy,
        new=_snapshot(policy, POLICY_FIELDS),
        source=source,
    )
    return policy


@transaction.atomic
def escalation_policy_update(
    *, actor: User | None, source: str, policy: EscalationPolicy, data: Mapping[str, Any]
) -> EscalationPolicy:
    """Rename or describe an escalation policy."""
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    before = _snapshot(policy, POLICY_FIELDS)
    policy.name = _text(data, "name", default=policy.name)
    policy.description = _text(data, "description", required=False, default=policy.description)
    _save(
        policy, conflict_field="name", conflict_message="An escalation policy with this name already exists."
    )
    old, new = _changes(before, _snapshot(policy, POLICY_FIELDS))
    if new:
        audit_record(
            actor=actor, action="escalation_policy.update", obj=policy, old=old, new=new, source=source
        )
    return policy


@transaction.atomic
def escalation_policy_delete(*, actor: User | None, source: str, policy: EscalationPolicy) -> None:
    """Delete a policy no task definition uses (with its steps)."""
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    users = list(policy.definitions.values_list("name", flat=True)[:5])
    if users:
        raise Conflict(
            f"Escalation policy {policy.name} is used by task definition(s) {', '.join(users)}: change them first."
        )
    audit_record(
        actor=actor,
        action="escalation_policy.delete",
        obj=policy,
        old={**_snapshot(policy, POLICY_FIELDS), "steps": policy.steps.count()},
        source=source,
    )
    policy.delete()


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
    _recheck(Task.objects.filter(definition__escalation_policy_id=step.policy_id))


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
    _recheck(Task.objects.filter(definition__escalation_policy=policy))


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
    unknown = [t for t in types if t not in RequestType.values]
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


@transaction.atomic
def task_definition_create(*, actor: User | None, source: str, data: Mapping[str, Any]) -> TaskDefinition:
    """A new task definition (SLA). It applies to tasks opened from now on."""
    definition = TaskDefinition()
    _definition_apply(definition, data)
    _save(
        definition, conflict_field="name", conflict_message="A task definition with this name already exists."
    )
    audit_record(
        actor=actor,
        action="task_definition.create",
        obj=definition,
        new=_snapshot(definition, DEFINITION_FIELDS),
        source=source,
    )
    return definition


@transaction.atomic
def task_definition_update(
    *, actor: User | None, source: str, definition: TaskDefinition, data: Mapping[str, Any]
) -> TaskDefinition:
    """Change a definition. Open tasks keep their due date; their escalation follows the new
    calendar and policy from the next sweep."""
    definition = TaskDefinition.objects.select_for_update().get(pk=definition.pk)
    before = _snapshot(definition, DEFINITION_FIELDS)
    _definition_apply(definition, data)
    _save(
        definition, conflict_field="name", conflict_message="A task definition with this name already exists."
    )
    old, new = _changes(before, _snapshot(definition, DEFINITION_FIELDS))
    if new:
        audit_record(
            actor=actor, action="task_definition.update", obj=definition, old=old, new=new, source=source
        )
        if {"calendar", "escalation_policy"} & new.keys():
            _recheck(Task.objects.filter(definition=definition))
    return definition


@transaction.atomic
def task_definition_delete(*, actor: User | None, source: str, definition: TaskDefinition) -> None:
    """Delete a definition: its open tasks keep their due date and stop escalating."""
    definition = TaskDefinition.objects.select_for_update().get(pk=definition.pk)
    audit_record(
        actor=actor,
        action="task_definition.delete",
        obj=definition,
        old=_snapshot(definition, DEFINITION_FIELDS),
        source=source,
    )
    Task.objects.filter(definition=definition, status=TaskStatus.OPEN).update(next_escalation_at=None)
    definition.delete()


# --- escalation -------------------------------------------------------------------------------


def _usable(users: Iterable[User | None], req: Request | None) -> list[User]:
    """Active users who may resolve the task: never the requester or the beneficiary."""
    excluded = {req.requester_id, req.beneficiary_id} if req is not None else set()
    seen: dict[int, User] = {}
    for user in users:
        if user is None or user.pk in excluded or user.pk in seen:
            continue
        if user.status != UserStatus.ACTIVE or not user.is_active:
            continue
        seen[user.pk] = user
    return list(seen.values())


def _current_resolvers(task: Task) -> list[User]:
    users = list(task.assignees.all())
    if not users and task.queue_id:
        users = list(task.queue.members.all())
    return users


def _managers(task: Task, req: Request | None) -> list[User]:
    """The managers of the task's user assignees; with no user assignee (a queue, or nobody),
    the beneficiary's manager."""
    assignees = list(task.assignees.select_related("manager"))
    if assignees:
        return [u.manager for u in assignees if u.manager_id]
    if req is not None and req.beneficiary_id and req.beneficiary.manager_id:
        return [req.beneficiary.manager]
    return []


def _next_approvers(
    task: Task, req: Request | None, step: EscalationStep
) -> tuple[list[User], Queue | None, str]:
    """The approvers of the request's next approval level (its queue if it is a queue level);
    the step's named users when there is no next level."""
    if task.kind == TaskKind.APPROVAL and req is not None and req.approval_policy_id:
        level = (
            ApprovalLevel.objects.filter(policy_id=req.approval_policy_id, position__gt=task.level)
            .select_related("queue")
            .order_by("position")
            .first()
        )
        if level is not None:
            if level.approver_kind == ApproverKind.QUEUE:
                return [], level.queue, f"level {level.position}"
            from requests_workflow.services.approvals import _approvers

            return _approvers(req, level), None, f"level {level.position}"
    return list(step.users.all()), None, "named users"


def _send_reminders(task_id: int, user_ids: list[int]) -> None:
    """After commit: e-mail the reminders (approval tasks get fresh approval links)."""
    from requests_workflow import mail

    task = Task.objects.select_related("request").filter(pk=task_id, status=TaskStatus.OPEN).first()
    if task is None:
        return
    users = list(User.objects.filter(pk__in=user_ids).order_by("pk"))
    if task.kind == TaskKind.APPROVAL:
        mail.send_approval_requests(task, users, subject_prefix="Reminder: ")
        return
    messages = []
    for user in users:
        if not user.email:
            continue
        context = {"task": task, "user": user, "base_url": mail.base_url()}
        text = render_to_string("email/task_reminder.txt", context)
        message = EmailMultiAlternatives(
            f"Reminder: {task.get_kind_display()} task #{task.pk} waits for you",
            text,
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
        )
        messages.append(message)
    if messages:
        try:
            with get_connection() as connection:
                connection.send_messages(messages)
        except Exception as exc:  # the escalation is committed: report, never undo it
            logger.warning("E-mail (reminder, task #%s) not sent: %s", task.pk, type(exc).__name__)


def _send_to_queue(task_id: int, queue_id: int) -> None:
    from requests_workflow import mail

    task = Task.objects.filter(pk=task_id, status=TaskStatus.OPEN, kind=TaskKind.APPROVAL).first()
    if task is not None:
        users = list(User.objects.filter(task_queues=queue_id).order_by("pk"))
        mail.send_approval_requests(task, users)


def _send_to_added(task_id: int, user_ids: list[int]) -> None:
    """After commit: approval links for the users an escalation added, unless the e-mail
    receivers of ``mail`` are connected (they send them then, and once is enough)."""
    from requests_workflow import mail

    if m2m_changed.has_listeners(Task.assignees.through):
        return
    task = Task.objects.filter(pk=task_id, status=TaskStatus.OPEN, kind=TaskKind.APPROVAL).first()
    if task is not None:
        mail.send_approval_requests(task, list(User.objects.filter(pk__in=user_ids).order_by("pk")))


def _run_step(task: Task, req: Request | None, step: EscalationStep) -> str | None:
    """Do one step on a locked task; returns what it did (None if it had already run)."""
    try:
        with transaction.atomic():
            run = TaskEscalation.objects.create(task=task, step=step, action=step.action)
    except IntegrityError:
        return None
    action = step.action
    before = {
        "assignees": sorted(u.username for u in task.assignees.all()),
        "queue": task.queue.name if task.queue_id else None,
    }
    added: list[User] = []
    queue: Queue | None = None
    if action == EscalationAction.REMIND:
        reminded = _usable(_current_resolvers(task), req)
        detail = (
            "reminded " + ", ".join(u.username for u in reminded)
            if reminded
            else "nobody to remind (no assignee)"
        )
        if reminded:
            ids = [u.pk for u in reminded]
            transaction.on_commit(lambda: _send_reminders(task.pk, ids))
    else:
        source_label = ""
        if action == EscalationAction.ESCALATE_MANAGER:
            candidates, source_label = _managers(task, req), "manager"
        elif action == EscalationAction.ESCALATE_QUEUE:
            candidates, queue, source_label = [], step.queue, "queue"
        elif action == EscalationAction.ESCALATE_USERS:
            candidates, source_label = list(step.users.all()), "named users"
        else:
            candidates, queue, source_label = _next_approvers(task, req, step)
        current = {u.pk for u in task.assignees.all()}
        added = [u for u in _usable(candidates, req) if u.pk not in current]
        if not added and queue is None:
            detail = f"nobody to escalate to ({source_label}: none found)"
        else:
            if not step.keep_assignees:
                task.assignees.clear()
                if queue is None and task.queue_id:
                    task.queue = None
                    task.save(update_fields=["queue"])
            if added:
                task.assignees.add(*added)
                added_ids = [u.pk for u in added]
                transaction.on_commit(lambda: _send_to_added(task.pk, added_ids))
            if queue is not None and queue.pk != task.queue_id:
                task.queue = queue
                task.save(update_fields=["queue"])
                queue_id = queue.pk
                transaction.on_commit(lambda: _send_to_queue(task.pk, queue_id))
            who = [u.username for u in added] + ([f"queue {queue.name}"] if queue is not None else [])
            detail = f"escalated to {', '.join(who)} ({source_label})" + (
                "" if step.keep_assignees else ", replacing the previous resolvers"
            )
    run.detail = detail
    run.save(update_fields=["detail"])
    audit_record(
        actor=None,
        action="task.reminded" if action == EscalationAction.REMIND else "task.escalated",
        obj=task,
        old=before if action != EscalationAction.REMIND else None,
        new={
            "step": step.pk,
            "policy": step.policy_id,
            "action": action,
            "after_hours": step.after_hours,
            "detail": detail,
            "assignees": sorted(u.username for u in task.assignees.all()),
            "queue": task.queue.name if task.queue_id else None,
            "request": req.pk if req else None,
        },
        source=Source.AUTOMATIC,
        subject_user_id=req.beneficiary_id if req else None,
    )
    if req is not None:
        request_event(
            req,
            stage=5 if task.kind == TaskKind.PROVISIONING else 3,
            message=f"Task #{task.pk} (level {task.level}) open for {step.after_hours} business hours: {detail}.",
        )
    return detail


#: Request statuses in which its open tasks still wait for someone.
_WAITING = (
    RequestStatus.WAITING_APPROVAL,
    RequestStatus.WAITING_SOD_APPROVAL,
    RequestStatus.WAITING_PROVISIONING,
)


@transaction.atomic
def task_escalate(*, task_id: int, now: datetime | None = None) -> int:
    """Run the escalation steps of one task that are due at ``now``; set when to look next.
    Skips a task (or its request) another worker holds. Returns the steps run."""
    now = now or timezone.now()
    request_id = Task.objects.filter(pk=task_id).values_list("request_id", flat=True).first()
    req = None
    if request_id is not None:
        # request first, then task: the lock order of the other request and task services
        req = Request.objects.select_for_update(skip_locked=True).filter(pk=request_id).first()
        if req is None:
            return 0
    task = (
        Task.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("definition__calendar", "queue")
        .filter(pk=task_id, status=TaskStatus.OPEN, next_escalation_at__lte=now)
        .first()
    )
    if task is None:
        return 0
    definition = task.definition
    if (
        definition is None
        or definition.escalation_policy_id is None
        or (req is not None and req.status not in _WAITING)
    ):
        task.next_escalation_at = None
        task.save(update_fields=["next_escalation_at"])
        return 0
    done = set(task.escalations.exclude(step=None).values_list("step_id", flat=True))
    steps = (
        EscalationStep.objects.filter(policy_id=definition.escalation_policy_id)
        .exclude(pk__in=done)
        .select_related("policy", "queue")
        .order_by("after_hours", "position")
    )
    ran = 0
    next_at = None
    for step in steps:
        at = business_deadline(definition.calendar, task.created_at, step.after_hours)
        if at > now:
            next_at = at
            break
        if _run_step(task, req, step) is not None:
            ran += 1
            done.add(step.pk)
    task.next_escalation_at = next_at
    task.save(update_fields=["next_escalation_at"])
    return ran


def tasks_escalate_due(*, now: datetime | None = None, batch: int = SWEEP_BATCH) -> int:
    """The periodic sweep: every open task whose next escalation is due (one indexed query),
    each in its own transaction. Safe to run twice or on several workers. Returns steps run."""
    now = now or timezone.now()
    due = list(
        Task.objects.filter(status=TaskStatus.OPEN, next_escalation_at__lte=now)
        .order_by("next_escalation_at", "id")
        .values_list("pk", flat=True)[:batch]
    )
    ran = 0
    for task_id in due:
        try:
            ran += task_escalate(task_id=task_id, now=now)
        except ValidationFailed as exc:  # e.g. a calendar with no working time: report, go on
            logger.warning("Escalation of task #%s skipped: %s", task_id, exc.message)
    return ran


__all__ = [
    "WEEKDAYS",
    "business_deadline",
    "business_hours_between",
    "calendar_create",
    "calendar_delete",
    "calendar_update",
    "escalation_policy_create",
    "escalation_policy_delete",
    "escalation_policy_update",
    "escalation_step_create",
    "escalation_step_delete",
    "escalation_step_update",
    "holiday_add",
    "holiday_delete",
    "sla_tasks_opened",
    "task_definition_create",
    "task_definition_delete",
    "task_definition_match",
    "task_definition_update",
    "task_escalate",
    "tasks_escalate_due",
]
