"""Requests and tasks (seed 002, "Requisições" and "Tarefas").

Every manual change to users, accounts, entitlement memberships and role memberships is a
``Request`` of one of 20 types carried through five stages (creation, validation policies,
approval and SoD, persistence in the directory, provisioning). ``RequestEvent`` rows are its
timeline; its tasks (approve, resolve a conflict, provision) are ``worklist.models.Task`` rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from directory.models import Criticality, Source

# The worklist models lived here until they moved to the worklist app; these names stay
# importable from here for one release (import them from ``worklist.models``).
from worklist.models import (  # noqa: F401
    ApprovalMode,
    Calendar,
    EscalationAction,
    EscalationPolicy,
    EscalationStep,
    Holiday,
    Queue,
    Task,
    TaskDefinition,
    TaskEscalation,
    TaskKind,
    TaskStatus,
    _default_working_days,  # noqa: F401  (historical migration 0003_task_sla)
)


class RequestType(models.TextChoices):
    """The 20 request types; the codes are stable (API, import files, audit)."""

    CREATE_USER = "CREATE_USER", _("New user")
    UPDATE_USER = "UPDATE_USER", _("Update user")
    REVOKE_USER = "REVOKE_USER", _("Revoke user")
    ACTIVATE_USER = "ACTIVATE_USER", _("Activate user")
    INACTIVATE_USER = "INACTIVATE_USER", _("Inactivate user")
    LOCK_USER = "LOCK_USER", _("Lock user")
    UNLOCK_USER = "UNLOCK_USER", _("Unlock user")
    RESET_PASSWORD = "RESET_PASSWORD", _("Reset password")
    CREATE_ACCOUNT = "CREATE_ACCOUNT", _("New account")
    UPDATE_ACCOUNT = "UPDATE_ACCOUNT", _("Update account")
    ACTIVATE_ACCOUNT = "ACTIVATE_ACCOUNT", _("Activate account")
    INACTIVATE_ACCOUNT = "INACTIVATE_ACCOUNT", _("Inactivate account")
    REVOKE_ACCOUNT = "REVOKE_ACCOUNT", _("Revoke account")
    CHECKIN_ADMIN_ACCOUNT = "CHECKIN_ADMIN_ACCOUNT", _("Check-in of an administrative account")
    CHECKOUT_ADMIN_ACCOUNT = "CHECKOUT_ADMIN_ACCOUNT", _("Check-out of an administrative account")
    CHECKIN_APPLICATION_ACCOUNT = "CHECKIN_APPLICATION_ACCOUNT", _("Check-in of an application account")
    GRANT_ENTITLEMENT = "GRANT_ENTITLEMENT", _("Grant entitlement")
    REVOKE_ENTITLEMENT = "REVOKE_ENTITLEMENT", _("Revoke entitlement")
    GRANT_ROLE = "GRANT_ROLE", _("Grant role")
    REVOKE_ROLE = "REVOKE_ROLE", _("Revoke role")


class RequestStatus(models.TextChoices):
    NEW = "NEW", _("New")
    WAITING_APPROVAL = "WAITING_APPROVAL", _("Waiting approval")
    WAITING_SOD_APPROVAL = "WAITING_SOD_APPROVAL", _("Waiting SoD approval")
    APPROVED = "APPROVED", _("Approved")
    REJECTED = "REJECTED", _("Rejected")
    CANCELED = "CANCELED", _("Canceled")
    WAITING_PROVISIONING = "WAITING_PROVISIONING", _("Waiting provisioning")
    FINISHED = "FINISHED", _("Finished")
    FAILED = "FAILED", _("Failed")


#: Statuses of a request still in flight: a second one for the same thing is refused.
PENDING_STATUSES = (
    RequestStatus.NEW,
    RequestStatus.WAITING_APPROVAL,
    RequestStatus.WAITING_SOD_APPROVAL,
    RequestStatus.APPROVED,
    RequestStatus.WAITING_PROVISIONING,
)


class Request(models.Model):
    """A request to change the directory: who asked (requester), for whom (beneficiary), what
    (type, object references, ``payload``), why (justification) and for how long (period)."""

    type = models.CharField(max_length=30, choices=RequestType.choices)
    status = models.CharField(max_length=22, choices=RequestStatus.choices, default=RequestStatus.NEW)
    stage = models.PositiveSmallIntegerField(
        default=1, help_text=_("The stage (1–5) the request last reached.")
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests_made",
    )
    beneficiary = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests_received",
        help_text=_("Empty for CREATE_USER until the user exists."),
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    resource = models.ForeignKey(
        "directory.Resource", null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    account = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    entitlement = models.ForeignKey(
        "directory.Entitlement", null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    role = models.ForeignKey(
        "directory.Role", null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    payload = models.JSONField(default=dict, blank=True, help_text=_("The type's data; never secrets."))
    justification = models.TextField(blank=True)
    start_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Access starts (time-bound requests).")
    )
    end_at = models.DateTimeField(null=True, blank=True, help_text=_("Access ends (time-bound requests)."))
    approval_level = models.PositiveSmallIntegerField(
        default=0, help_text=_("Approval level in progress (1-based).")
    )
    approval_policy = models.ForeignKey(
        "ApprovalPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    result = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("What stage 4 did (ids created, previous values) for stage 5 and rollback."),
    )
    failure_reason = models.TextField(blank=True)
    dedup_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        help_text=_("Same beneficiary, type and object: one pending request."),
    )
    origin = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="follow_ups",
        help_text=_("The time-bound request whose end created this revoke request."),
    )
    expiry_notice_sent_at = models.DateTimeField(null=True, blank=True)
    access_ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    applied_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When stage 4 changed the directory.")
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=Q(status__in=PENDING_STATUSES),
                name="request_one_pending_per_object",
            ),
            models.CheckConstraint(
                condition=Q(start_at__isnull=True)
                | Q(end_at__isnull=True)
                | Q(end_at__gt=models.F("start_at")),
                name="request_period_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "type"]),
            models.Index(fields=["beneficiary", "status"]),
            models.Index(fields=["requester", "status"]),
            models.Index(fields=["status", "start_at"]),
            models.Index(fields=["status", "end_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} ({self.status})"

    @property
    def proposed_user(self) -> dict[str, Any]:
        """The user a new-user request proposes (its payload's ``user``; empty otherwise)."""
        user = (self.payload or {}).get("user") if self.type == RequestType.CREATE_USER else None
        return user if isinstance(user, dict) else {}

    @property
    def beneficiary_username(self) -> str:
        """The beneficiary's username; for a new-user request not carried out (yet), the one it
        proposes ("" when the username policy will choose it)."""
        if self.beneficiary is not None:
            return self.beneficiary.username
        return str(self.proposed_user.get("username") or "").strip()

    @property
    def beneficiary_name(self) -> str:
        """Who the request is for, in words: the beneficiary's name, or — a new-user request
        whose user does not exist (yet, or because it failed) — the name it proposes."""
        if self.beneficiary is not None:
            return self.beneficiary.get_full_name() or self.beneficiary.username
        user = self.proposed_user
        name = " ".join(str(user.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
        return name or self.beneficiary_username or gettext("a new user")


class RequestEvent(models.Model):
    """One step of a request's timeline: the stage, the status move, who and why."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="events")
    stage = models.PositiveSmallIntegerField()
    from_status = models.CharField(max_length=22, blank=True)
    to_status = models.CharField(max_length=22, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(stage__gte=1, stage__lte=5), name="request_event_stage_1_5")
        ]

    def __str__(self) -> str:
        return f"#{self.request_id} stage {self.stage}: {self.message}"


class ApprovalPolicy(models.Model):
    """Who approves which requests: matched on type, object, criticality and beneficiary
    attributes; its levels run in order. The lowest ``priority`` among matches wins."""

    name = models.CharField(max_length=200, unique=True)
    active = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(
        default=100, help_text=_("Lower wins when several policies match.")
    )
    request_types = models.JSONField(default=list, blank=True, help_text=_("Type codes; empty = every type."))
    resource = models.ForeignKey(
        "directory.Resource", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    entitlement = models.ForeignKey(
        "directory.Entitlement", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    role = models.ForeignKey(
        "directory.Role", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    criticality = models.CharField(
        max_length=10, choices=Criticality.choices, blank=True, help_text=_("Empty = any criticality.")
    )
    beneficiary_conditions = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            'Beneficiary fields or attributes that must equal these values, e.g. {"department": "Finance"}.'
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name_plural = _("approval policies")
        indexes = [models.Index(fields=["active", "priority"])]

    def __str__(self) -> str:
        return self.name


class ApproverKind(models.TextChoices):
    MANAGER = "MANAGER", _("Beneficiary's manager")
    OWNER = "OWNER", _("Owner of the resource, entitlement or role")
    USERS = "USERS", _("Named users")
    QUEUE = "QUEUE", _("A queue")


class ApprovalLevel(models.Model):
    """One level of a policy: who approves and whether any one or all of them must."""

    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.CASCADE, related_name="levels")
    position = models.PositiveSmallIntegerField(help_text=_("1, 2, …: levels run in this order."))
    mode = models.CharField(max_length=3, choices=ApprovalMode.choices, default=ApprovalMode.ANY)
    approver_kind = models.CharField(max_length=10, choices=ApproverKind.choices)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["policy_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="approval_level_unique_position"),
            models.CheckConstraint(
                condition=~Q(approver_kind="QUEUE") | Q(queue__isnull=False), name="approval_level_queue_set"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} level {self.position} ({self.approver_kind}, {self.mode})"


class RequesterScope(models.TextChoices):
    """Who a validation policy lets request, on top of the built-in rule."""

    BUILT_IN = (
        "",
        _(
            "Built-in rule only (oneself on self-service types, a manager for their reports, console "
            "administrators)"
        ),
    )
    SELF = "SELF", _("Only the beneficiary, for themselves")
    MANAGER = "MANAGER", _("Only the beneficiary's manager")
    CONSOLE = "CONSOLE", _("Only people with a console role")


class RuleOperator(models.TextChoices):
    EQUALS = "equals", _("equals")
    NOT_EQUALS = "not_equals", _("does not equal")
    IN = "in", _("is one of")
    REGEX = "regex", _("matches the pattern")


class ValidationPolicy(models.Model):
    """Stage-2 rules an administrator adds on top of the built-in ones (seed 002, "políticas de
    validação"): every active policy that matches a request must pass, or nothing is created."""

    name = models.CharField(max_length=200, unique=True)
    active = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(
        default=100, help_text=_("Order the policies are checked and listed in.")
    )
    request_types = models.JSONField(default=list, blank=True, help_text=_("Type codes; empty = every type."))
    resource = models.ForeignKey(
        "directory.Resource", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    entitlement = models.ForeignKey(
        "directory.Entitlement", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    role = models.ForeignKey(
        "directory.Role", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    justification_required = models.BooleanField(default=False)
    justification_min_length = models.PositiveSmallIntegerField(
        default=0, help_text=_("Characters a justification needs at least (0 = any).")
    )
    requester_scope = models.CharField(
        max_length=10, choices=RequesterScope.choices, blank=True, help_text=_("Who may request.")
    )
    beneficiary_rules = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            'Conditions on the beneficiary: [{"attribute": "employee_type", "operator": "equals", '
            '"value": "EMPLOYEE"}]; operators equals, not_equals, in (a list), regex.'
        ),
    )
    beneficiary_statuses = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Statuses the beneficiary may have; empty = what the type allows."),
    )
    max_period_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Longest access period of time-bound requests, in days; empty = no limit."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name_plural = _("validation policies")
        indexes = [models.Index(fields=["active", "priority"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_period_days__isnull=True) | Q(max_period_days__gte=1),
                name="validation_policy_period_positive",
            )
        ]

    def __str__(self) -> str:
        return self.name


class DelegationScope(models.TextChoices):
    """Which of the delegator's tasks the delegate may resolve. The values other than ``ALL`` are
    task kinds, so "does this delegation cover this task" is ``scope in ("ALL", task.kind)``."""

    ALL = "ALL", _("All my tasks")
    APPROVAL = TaskKind.APPROVAL.value, _("Approval tasks only")


class DelegationState(models.TextChoices):
    """Where a delegation is in its life, computed from its dates (not stored)."""

    UPCOMING = "UPCOMING", _("Upcoming")
    ACTIVE = "ACTIVE", _("Active")
    ENDED = "ENDED", _("Ended")
    REVOKED = "REVOKED", _("Revoked")


#: The longest period one delegation may cover; a longer absence needs a new delegation (and a
#: look at whether the tasks should rather be reassigned or the approval policies changed).
DELEGATION_MAX_DAYS = 90


class Delegation(models.Model):
    """Out of office: from ``start_at`` to ``end_at`` (unless revoked), the tasks assigned to the
    delegator may also be resolved by the delegate, on the delegator's behalf. Nothing is copied
    onto the tasks: who may decide is computed from the active delegations, so the end or the
    revocation of a delegation takes the access away by itself."""

    delegator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_given"
    )
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_received"
    )
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    scope = models.CharField(max_length=10, choices=DelegationScope.choices, default=DelegationScope.ALL)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-start_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_at__gt=models.F("start_at")), name="delegation_period_ordered"
            ),
            models.CheckConstraint(
                condition=~Q(delegator=models.F("delegate")), name="delegation_not_to_oneself"
            ),
        ]
        indexes = [
            models.Index(fields=["delegate", "end_at"]),
            models.Index(fields=["delegator", "end_at"]),
        ]

    def __str__(self) -> str:
        return f"Delegation #{self.pk} {self.delegator_id} → {self.delegate_id}"

    def state(self, at: datetime | None = None) -> DelegationState:
        """The delegation's state at ``at`` (now by default)."""
        at = at or timezone.now()
        if self.revoked_at is not None:
            return DelegationState.REVOKED
        if self.end_at <= at:
            return DelegationState.ENDED
        return DelegationState.ACTIVE if self.start_at <= at else DelegationState.UPCOMING


class ImportMode(models.TextChoices):
    BEST_EFFORT = "BEST_EFFORT", _("Best effort: create the valid lines, report the others")
    ALL_OR_NOTHING = "ALL_OR_NOTHING", _("All or nothing: create nothing if any line fails")


class ImportStatus(models.TextChoices):
    VALIDATED = "VALIDATED", _("Validated (dry run)")
    RUNNING = "RUNNING", _("Running")
    DONE = "DONE", _("Done")
    FAILED = "FAILED", _("Failed")


class ImportJob(models.Model):
    """A CSV file of requests uploaded in the console: its dry run (every line validated, nothing
    written but this job) and then its run, which creates the requests with source ``import``."""

    file_name = models.CharField(max_length=255)
    content = models.TextField(help_text=_("The uploaded file, decoded (UTF-8)."))
    types = models.JSONField(default=list, blank=True, help_text=_("The request types the file holds."))
    mode = models.CharField(max_length=14, choices=ImportMode.choices, blank=True)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.VALIDATED)
    row_count = models.PositiveIntegerField(default=0)
    ok_count = models.PositiveIntegerField(
        default=0, help_text=_("Valid lines (dry run), then requests created.")
    )
    error_count = models.PositiveIntegerField(default=0, help_text=_("Lines refused (dry run, then run)."))
    processed = models.PositiveIntegerField(default=0, help_text=_("Lines the run has handled (progress)."))
    dry_run_errors = models.JSONField(
        default=list, blank=True, help_text=_('The dry run\'s refused lines: [{"line": 5, "error": "…"}].')
    )
    failure_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    run_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed__lte=models.F("row_count")), name="import_job_progress"
            )
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.file_name} ({self.status})"

    @property
    def percent(self) -> int:
        return 100 if not self.row_count else min(100, self.processed * 100 // self.row_count)


class ImportRowStatus(models.TextChoices):
    CREATED = "CREATED", _("Request created")
    ERROR = "ERROR", _("Refused")
    NOT_CREATED = "NOT_CREATED", _("Not created (all or nothing: another line failed)")


class ImportRow(models.Model):
    """What the run did with one line of an import file: the request it created or why not.
    Written in bulk, in the same transaction as the requests of its batch."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(help_text=_("Line number in the file (the header is line 1)."))
    status = models.CharField(max_length=11, choices=ImportRowStatus.choices)
    request = models.ForeignKey(Request, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["job_id", "line"]
        constraints = [models.UniqueConstraint(fields=["job", "line"], name="import_row_unique_line")]

    def __str__(self) -> str:
        return f"Import #{self.job_id} line {self.line}: {self.status}"
