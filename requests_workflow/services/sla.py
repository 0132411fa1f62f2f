"""Task SLAs (seed 002, "Tarefas": definitions, escalation policies, queues and calendars).

* **Calendars** say when people work: weekdays and hours in one IANA time zone, minus holidays.
  ``business_deadline`` and ``business_hours_between`` (in ``worklist.services.calendar``) count
  business hours on them; with no calendar they count plain clock hours.
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
UPDATE): the next sweep re-reads them and sets the right time. The configuration services are in
``worklist.services.sla_config``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext

from blazon import notify
from blazon.audit.services import audit_record
from blazon.errors import ValidationFailed
from blazon.language import activate_for, keeps_language
from directory.models import Source, User, UserStatus
from requests_workflow import mail, tasks
from requests_workflow.models import ApprovalLevel, ApproverKind, Request, RequestStatus
from requests_workflow.services.approvers import approvers_of_level, request_criticality
from requests_workflow.services.common import request_event
from worklist.models import (
    EscalationAction,
    EscalationStep,
    Queue,
    Task,
    TaskDefinition,
    TaskEscalation,
    TaskKind,
    TaskStatus,
)
from worklist.services import task_assignees_add, task_assignees_replace, task_queue_set
from worklist.services.calendar import WEEKDAYS, business_deadline, business_hours_between
from worklist.services.sla_config import tasks_recheck_escalation

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


# --- task definitions: matching and applying --------------------------------------------------


def _request_criticality(req: Request | None) -> str:
    if req is None:
        return ""

    return request_criticality(req)


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


def _first_step_hours(definition: TaskDefinition) -> Any:
    if definition.escalation_policy_id is None:
        return None
    return (
        EscalationStep.objects.filter(policy_id=definition.escalation_policy_id)
        .order_by("after_hours")
        .values_list("after_hours", flat=True)
        .first()
    )


def sla_tasks_opened(tasks: Iterable[Task], *, req: Request | None) -> None:
    """Give newly opened tasks their SLA: the matching definition, ``due_at`` and when the
    escalation sweep must first look at them. Call it wherever tasks are created. The queries
    do not grow with the number of tasks (bulk openers pass thousands)."""
    cache: dict[str, TaskDefinition | None] = {}
    first_hours: dict[int, Any] = {}
    changed: list[Task] = []
    for task in tasks:
        if task.kind not in cache:
            cache[task.kind] = task_definition_match(task.kind, req)
        definition = cache[task.kind]
        if definition is None:
            continue
        task.definition = definition
        task.due_at = business_deadline(definition.calendar, task.created_at, definition.sla_hours)
        # the first escalation step of a definition is read once, not once per task
        if definition.pk not in first_hours:
            first_hours[definition.pk] = _first_step_hours(definition)
        hours = first_hours[definition.pk]
        task.next_escalation_at = (
            None if hours is None else business_deadline(definition.calendar, task.created_at, hours)
        )
        changed.append(task)
    if changed:
        Task.objects.bulk_update(changed, ["definition", "due_at", "next_escalation_at"])


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
    if not users and task.queue is not None:
        users = list(task.queue.members.all())
    return users


def _managers(task: Task, req: Request | None) -> list[User]:
    """The managers of the task's user assignees; with no user assignee (a queue, or nobody),
    the beneficiary's manager."""
    assignees = list(task.assignees.select_related("manager"))
    if assignees:
        return [u.manager for u in assignees if u.manager is not None]
    if req is not None and req.beneficiary is not None and req.beneficiary.manager is not None:
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

            return approvers_of_level(req, level), None, f"level {level.position}"
    return list(step.users.all()), None, "named users"


@keeps_language
def task_reminders_send(task_id: int, user_ids: list[int]) -> int:
    """E-mail the reminders of an escalation step (approval tasks get fresh approval links);
    how many were sent. Run by the ``mail_task_reminders`` outbox task after the step commits;
    a task decided meanwhile is reminded of no more."""

    task = Task.objects.select_related("request").filter(pk=task_id, status=TaskStatus.OPEN).first()
    if task is None:
        return 0
    users = list(User.objects.filter(pk__in=user_ids).order_by("pk"))
    if task.kind == TaskKind.APPROVAL:
        return mail.send_approval_requests(task, users, subject_prefix=gettext("Reminder: "))
    messages = []
    for user in users:
        activate_for(user)
        if not user.email:
            continue
        context = {"task": task, "user": user, "base_url": mail.base_url()}
        text = render_to_string("email/task_reminder.txt", context)
        message = EmailMultiAlternatives(
            gettext("Reminder: %(kind)s task #%(id)s waits for you")
            % {"kind": task.get_kind_display(), "id": task.pk},
            text,
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
        )
        messages.append(message)
    return notify.send_messages(messages, what=f"reminder, task #{task.pk}")


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
        "queue": task.queue.name if task.queue is not None else None,
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
            notify.on_commit(tasks.mail_task_reminders, task.pk, ids)
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
            if step.keep_assignees:
                task_assignees_add(task=task, users=added)
            else:
                task_assignees_replace(task=task, users=added)
                if queue is None:
                    task_queue_set(task=task, queue=None)
            if queue is not None:
                # the queue's members are told after commit, by the kind's notification
                task_queue_set(task=task, queue=queue)
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
            "queue": task.queue.name if task.queue is not None else None,
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
    "sla_tasks_opened",
    "task_definition_match",
    "task_escalate",
    "tasks_escalate_due",
    "tasks_recheck_escalation",
]
