"""The worklist (seed 002, "Tarefas"): tasks of every kind, the queues that resolve them, task
definitions (SLAs), escalation policies and working calendars.

A task is work for people: approve a request, accept an SoD conflict, provision by hand,
certify an access, approve a role change. The app that owns a task kind decides what a decision
on it means (see ``worklist.registry``); the worklist only keeps the tasks, who may resolve
them and when they are due.

The tables keep the names they had when these models lived in ``requests_workflow``
(``db_table``): moving the models changed no table, no index and no row (migration
``worklist.0001_initial``).
"""

from __future__ import annotations

from datetime import time
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from directory.models import Criticality
from worklist.registry import SubjectRef, subject_label, subjects_resolve

#: The audit-log labels (``app_label.Model``) these models had before they moved here: events
#: written then keep them (the log is append-only), so a history look-up reads both.
LEGACY_LABELS = {
    f"worklist.{name}": f"requests_workflow.{name}"
    for name in (
        "Queue",
        "Task",
        "Calendar",
        "Holiday",
        "EscalationPolicy",
        "EscalationStep",
        "TaskDefinition",
        "TaskEscalation",
    )
}


class ApprovalMode(models.TextChoices):
    ANY = "ANY", _("Any one approver")
    ALL = "ALL", _("All approvers")


class Queue(models.Model):
    """A group of resolvers: any member may take a task assigned to the queue."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="task_queues")

    class Meta:
        db_table = "requests_workflow_queue"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TaskKind(models.TextChoices):
    APPROVAL = "APPROVAL", _("Approval")
    SOD = "SOD", _("Segregation of duties")
    PROVISIONING = "PROVISIONING", _("Provisioning")
    CERTIFICATION = "CERTIFICATION", _("Certification")
    ROLE_CHANGE = "ROLE_CHANGE", _("Role change")
    ACCESS = "ACCESS", _("Privileged access")
    ACCESS_REVIEW = "ACCESS_REVIEW", _("Emergency access review")
    RECONCILIATION = "RECONCILIATION", _("Reconciliation")
    ROTATION = "ROTATION", _("Failed password rotation")


class TaskStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    APPROVED = "APPROVED", _("Approved")
    REJECTED = "REJECTED", _("Rejected")
    CANCELED = "CANCELED", _("Canceled")


class Task(models.Model):
    """Work for people: approve a request, resolve an SoD conflict, provision by hand, certify
    an access, approve a role change. Assigned to users and/or a queue."""

    kind = models.CharField(max_length=15, choices=TaskKind.choices)
    # The typed link to what the task is about (``subject``): a subject kind the owning app
    # registered (``worklist.registry.register_subject_kind``) and that app's object id.
    subject_kind = models.CharField(
        max_length=40,
        blank=True,
        default="",
        help_text=_(
            "What the task is about: a subject kind its app registered (request, provisioning_entry, …)."
        ),
    )
    subject_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text=_("The id of the subject in the app that owns it.")
    )
    # The request the task belongs to (approval, SoD; the request of a manual provisioning entry):
    # who may not decide it (requester, beneficiary), its SLA, the request page's task list.
    request = models.ForeignKey(
        "requests_workflow.Request", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    level = models.PositiveSmallIntegerField(default=1)
    mode = models.CharField(max_length=3, choices=ApprovalMode.choices, default=ApprovalMode.ANY)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    assignees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="tasks")
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks")
    title = models.CharField(max_length=300, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Set when ``decided_by`` decided as the out-of-office delegate of this assignee."),
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the SLA of its task definition says it must be done.")
    )
    definition = models.ForeignKey(
        "TaskDefinition",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        help_text=_("The task definition (SLA) that applied when the task was opened."),
    )
    next_escalation_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the escalation sweep must look at this task next (empty: nothing left to run)."),
    )

    class Meta:
        db_table = "requests_workflow_task"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "kind"]),
            models.Index(fields=["request", "level", "status"]),
            models.Index(fields=["queue", "status"]),
            models.Index(fields=["due_at"]),
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(status="OPEN", next_escalation_at__isnull=False),
                name="task_escalation_due",
            ),
            models.Index(fields=["subject_kind", "subject_id"], name="task_subject"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(subject_kind="", subject_id__isnull=True)
                | (~Q(subject_kind="") & Q(subject_id__isnull=False)),
                name="task_subject_complete",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} task #{self.pk} ({self.status})"

    @property
    def subject_ref(self) -> SubjectRef | None:
        """The typed link to the subject (None: the task is about nothing registered)."""
        if not self.subject_kind or self.subject_id is None:
            return None
        return SubjectRef(self.subject_kind, self.subject_id)

    @property
    def subject(self) -> Any:
        """The object the task is about, loaded through its kind's registration (None when the
        kind is not registered or the object is gone). ``tasks_subjects_attach`` loads a list's
        subjects at once."""
        if "_subject" not in self.__dict__:
            ref = self.subject_ref
            self.__dict__["_subject"] = subjects_resolve([ref]).get(ref) if ref is not None else None
        return self.__dict__["_subject"]

    @property
    def subject_label(self) -> str:
        """What the subject is, in a few words; the task's title when it has none."""
        ref = self.subject_ref
        return (subject_label(ref, self.subject) if ref is not None else "") or self.title

    @property
    def overdue(self) -> bool:
        """Open and past its due date."""
        return self.status == TaskStatus.OPEN and self.due_at is not None and self.due_at < timezone.now()


# --- SLA: calendars, task definitions, escalation policies (seed "Tarefas") -------------------


def _default_working_days() -> list[int]:
    return [0, 1, 2, 3, 4]


class Calendar(models.Model):
    """Working time for SLAs: the working weekdays and hours in one IANA time zone, and its
    holidays. Business hours are counted only inside these windows."""

    name = models.CharField(max_length=200, unique=True)
    timezone = models.CharField(
        max_length=64, default="UTC", help_text=_("IANA time zone, e.g. Europe/Lisbon.")
    )
    working_days = models.JSONField(
        default=_default_working_days, help_text=_("Working weekdays, 0 = Monday … 6 = Sunday.")
    )
    day_start = models.TimeField(default=time(9, 0), help_text=_("Working day starts (local time)."))
    day_end = models.TimeField(default=time(18, 0), help_text=_("Working day ends (local time)."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "requests_workflow_calendar"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(day_end__gt=models.F("day_start")), name="calendar_day_ordered"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Holiday(models.Model):
    """A day of a calendar on which nobody works (a local date of the calendar's time zone)."""

    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=200)

    class Meta:
        db_table = "requests_workflow_holiday"
        ordering = ["calendar_id", "date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_date")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class EscalationPolicy(models.Model):
    """What happens to a task nobody resolves: its steps (remind, escalate) run once each, N
    business hours after the task was opened."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "requests_workflow_escalationpolicy"
        ordering = ["name"]
        verbose_name_plural = _("escalation policies")

    def __str__(self) -> str:
        return self.name


class EscalationAction(models.TextChoices):
    REMIND = "REMIND", _("Remind the current assignees")
    ESCALATE_MANAGER = "ESCALATE_MANAGER", _("Escalate to the manager")
    ESCALATE_QUEUE = "ESCALATE_QUEUE", _("Escalate to a queue")
    ESCALATE_NEXT_APPROVER = "ESCALATE_NEXT_APPROVER", _("Escalate to the next approver")
    ESCALATE_USERS = "ESCALATE_USERS", _("Escalate to named users")


class EscalationStep(models.Model):
    """One step of an escalation policy: after ``after_hours`` business hours since the task was
    opened, do ``action`` (once per task)."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(help_text=_("1, 2, …: the order the steps are listed in."))
    after_hours = models.PositiveIntegerField(help_text=_("Business hours after the task was opened."))
    action = models.CharField(max_length=22, choices=EscalationAction.choices)
    queue = models.ForeignKey(
        Queue,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("ESCALATE_QUEUE."),
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text=_("ESCALATE_USERS; ESCALATE_NEXT_APPROVER when there is no next approval level."),
    )
    keep_assignees = models.BooleanField(
        default=True,
        help_text=_("Escalation adds the new resolvers; unticked, they replace the current ones."),
    )

    class Meta:
        db_table = "requests_workflow_escalationstep"
        ordering = ["policy_id", "after_hours", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="escalation_step_unique_position"),
            models.CheckConstraint(
                condition=~Q(action="ESCALATE_QUEUE") | Q(queue__isnull=False),
                name="escalation_step_queue_set",
            ),
            models.CheckConstraint(condition=Q(after_hours__gte=1), name="escalation_step_after_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.policy} step {self.position}: {self.action} after {self.after_hours} h"


class TaskDefinition(models.Model):
    """The SLA of a kind of task: which tasks it applies to (kind, optionally request types and
    criticality), how many business hours they have, on which calendar, and how they escalate.
    Most specific match wins, then the lowest ``priority``."""

    name = models.CharField(max_length=200, unique=True)
    active = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(
        default=100, help_text=_("Lower wins among equally specific matches.")
    )
    task_kind = models.CharField(max_length=15, choices=TaskKind.choices)
    request_types = models.JSONField(default=list, blank=True, help_text=_("Type codes; empty = every type."))
    criticality = models.CharField(
        max_length=10, choices=Criticality.choices, blank=True, help_text=_("Empty = any criticality.")
    )
    sla_hours = models.PositiveIntegerField(help_text=_("Business hours to resolve the task."))
    calendar = models.ForeignKey(
        Calendar,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="definitions",
        help_text=_("Empty: plain clock hours, every day."),
    )
    escalation_policy = models.ForeignKey(
        EscalationPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="definitions"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "requests_workflow_taskdefinition"
        ordering = ["task_kind", "priority", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(sla_hours__gte=1), name="task_definition_sla_positive")
        ]
        indexes = [models.Index(fields=["task_kind", "active"])]

    def __str__(self) -> str:
        return self.name


class TaskEscalation(models.Model):
    """An escalation step that ran on a task. Unique per (task, step): running the sweep twice,
    or on two workers at once, has one effect."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="escalations")
    step = models.ForeignKey(EscalationStep, null=True, on_delete=models.SET_NULL, related_name="runs")
    action = models.CharField(max_length=22, choices=EscalationAction.choices)
    detail = models.TextField(blank=True, help_text=_("What the step did (who was reminded or added)."))
    ran_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "requests_workflow_taskescalation"
        ordering = ["task_id", "id"]
        constraints = [models.UniqueConstraint(fields=["task", "step"], name="task_escalation_once")]

    def __str__(self) -> str:
        return f"task #{self.task_id}: {self.action}"
