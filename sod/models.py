"""Segregation of duties (seed 002, "Segregação de funções"): conflict rules, the exceptions their
owners grant, the conflicts a request would create and the violations the periodic scan finds.

A rule names two or more *sides*, each a set of items (entitlements, roles, accounts on
resources): nobody may hold items of two different sides at once. An item keeps the label it
had when it was named, so a rule whose entitlement or role was deleted still says what it named
(the foreign key becomes empty, the item is then "gone" and matches nobody).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Severity(models.TextChoices):
    LOW = "LOW", _("Low")
    MEDIUM = "MEDIUM", _("Medium")
    HIGH = "HIGH", _("High")
    CRITICAL = "CRITICAL", _("Critical")


class ItemKind(models.TextChoices):
    ENTITLEMENT = "ENTITLEMENT", _("Entitlement")
    ROLE = "ROLE", _("Role")
    RESOURCE = "RESOURCE", _("Account on resource")


class SoDRule(models.Model):
    """A conflict rule: holding any item of one side together with any item of another side is
    a violation; its owner approves (or refuses) exceptions."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.HIGH)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_sod_rules",
        help_text="Approves exceptions to the rule (empty: a console administrator decides).",
    )
    mitigating_controls = models.TextField(
        blank=True, help_text="What compensates when an exception is granted."
    )
    evidence_url = models.URLField(
        max_length=500, blank=True, help_text="Where the controls' evidence is kept."
    )
    active = models.BooleanField(default=True, help_text="Inactive rules are neither checked nor scanned.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("SoD rule")
        verbose_name_plural = _("SoD rules")

    def __str__(self) -> str:
        return self.name


class SoDRuleItem(models.Model):
    """One item on one side of a rule. ``label`` is what the item was called when named."""

    rule = models.ForeignKey(SoDRule, on_delete=models.CASCADE, related_name="items")
    side = models.PositiveSmallIntegerField(help_text="1, 2, …: items of different sides conflict.")
    kind = models.CharField(max_length=12, choices=ItemKind.choices)
    entitlement = models.ForeignKey(
        "directory.Entitlement", null=True, blank=True, on_delete=models.SET_NULL, related_name="sod_items"
    )
    role = models.ForeignKey(
        "directory.Role", null=True, blank=True, on_delete=models.SET_NULL, related_name="sod_items"
    )
    resource = models.ForeignKey(
        "directory.Resource", null=True, blank=True, on_delete=models.SET_NULL, related_name="sod_items"
    )
    ref = models.CharField(
        max_length=300, help_text="entitlement:<resource>/<identifier>, role:<code>, resource:<code>"
    )
    label = models.CharField(max_length=300)

    class Meta:
        ordering = ["rule_id", "side", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(side__gte=1), name="sod_item_side_positive"),
            models.CheckConstraint(
                condition=(Q(kind="ENTITLEMENT") & Q(role__isnull=True) & Q(resource__isnull=True))
                | (Q(kind="ROLE") & Q(entitlement__isnull=True) & Q(resource__isnull=True))
                | (Q(kind="RESOURCE") & Q(entitlement__isnull=True) & Q(role__isnull=True)),
                name="sod_item_one_target",
            ),
            # one item once per rule: it cannot sit on two sides
            models.UniqueConstraint(
                fields=["rule", "entitlement"],
                condition=Q(entitlement__isnull=False),
                name="sod_item_unique_ent",
            ),
            models.UniqueConstraint(
                fields=["rule", "role"], condition=Q(role__isnull=False), name="sod_item_unique_role"
            ),
            models.UniqueConstraint(
                fields=["rule", "resource"],
                condition=Q(resource__isnull=False),
                name="sod_item_unique_resource",
            ),
        ]
        indexes = [
            models.Index(fields=["entitlement"]),
            models.Index(fields=["role"]),
            models.Index(fields=["resource"]),
        ]

    def __str__(self) -> str:
        return self.label + ("" if self.present else " (deleted)")

    @property
    def target_id(self) -> int | None:
        return {
            ItemKind.ENTITLEMENT: self.entitlement_id,
            ItemKind.ROLE: self.role_id,
            ItemKind.RESOURCE: self.resource_id,
        }.get(ItemKind(self.kind))

    @property
    def present(self) -> bool:
        """False once the entitlement, role or resource it named was deleted."""
        return self.target_id is not None


class SoDException(models.Model):
    """The rule owner accepted that ``user`` holds both sides of ``rule`` until ``expires_at``,
    for ``reason`` (granted on an SoD task of a request or of a detected violation)."""

    rule = models.ForeignKey(SoDRule, on_delete=models.CASCADE, related_name="exceptions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sod_exceptions"
    )
    reason = models.TextField()
    expires_at = models.DateTimeField()
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request = models.ForeignKey(
        "requests_workflow.Request", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("SoD exception")
        verbose_name_plural = _("SoD exceptions")
        indexes = [models.Index(fields=["rule", "user", "expires_at"])]

    def __str__(self) -> str:
        return f"exception #{self.pk} to {self.rule_id} for {self.user_id}"

    @property
    def valid(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "Revoked"
        return "Valid" if self.expires_at > timezone.now() else "Expired"


class ViolationStatus(models.TextChoices):
    OPEN = "OPEN", _("Open (no valid exception)")
    ACCEPTED = "ACCEPTED", _("Accepted (valid exception)")
    RESOLVED = "RESOLVED", _("Resolved")


class SoDViolation(models.Model):
    """A user found holding two sides of a rule by the detective scan. ``items`` says which items
    and how they are held (directly or via which roles)."""

    rule = models.ForeignKey(SoDRule, on_delete=models.CASCADE, related_name="violations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sod_violations"
    )
    status = models.CharField(max_length=10, choices=ViolationStatus.choices, default=ViolationStatus.OPEN)
    items = models.JSONField(default=list, help_text="[{side, kind, id, label, via_roles, direct}]")
    exception = models.ForeignKey(
        SoDException, null=True, blank=True, on_delete=models.SET_NULL, related_name="violations"
    )
    task = models.ForeignKey(
        "worklist.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="sod_violations"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("SoD violation")
        verbose_name_plural = _("SoD violations")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "user"], condition=~Q(status="RESOLVED"), name="sod_violation_one_live"
            )
        ]
        indexes = [models.Index(fields=["status", "rule"])]

    def __str__(self) -> str:
        return f"violation #{self.pk} of {self.rule_id} by {self.user_id}"


class SoDRequestConflict(models.Model):
    """A rule a request would break (stage 3): what it asks for, how the beneficiary already holds
    the other side, and the SoD task its owner decides."""

    request = models.ForeignKey(
        "requests_workflow.Request", on_delete=models.CASCADE, related_name="sod_conflicts"
    )
    rule = models.ForeignKey(SoDRule, on_delete=models.CASCADE, related_name="request_conflicts")
    task = models.ForeignKey(
        "worklist.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="sod_conflicts"
    )
    requested = models.JSONField(default=list)
    held = models.JSONField(default=list)
    exception = models.ForeignKey(
        SoDException, null=True, blank=True, on_delete=models.SET_NULL, related_name="request_conflicts"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["request", "rule"], name="sod_conflict_unique")]

    def __str__(self) -> str:
        return f"request #{self.request_id} breaks {self.rule_id}"


class RoleChangeStepKind(models.TextChoices):
    """The approval steps of a role change (seed 004), in the order they run."""

    OWNER = "OWNER", _("Role owner's approval")
    SOD = "SOD", _("SoD check of the added items")
    ACCESS_OWNER = "ACCESS_OWNER", _("Access owners' approval")
    INTRA_ROLE = "INTRA_ROLE", _("Conflicts with the role's items")


class RoleChangeStepStatus(models.TextChoices):
    WAITING = "WAITING", _("Waiting")
    APPROVED = "APPROVED", _("Approved")
    REJECTED = "REJECTED", _("Rejected")
    SKIPPED = "SKIPPED", _("Not needed")


class RoleChangeStep(models.Model):
    """One step of a role change's approval flow: who had to decide, what they decided, or why
    the step was not needed. Steps switched off by configuration leave no row."""

    role_change = models.ForeignKey(
        "directory.RoleChange", on_delete=models.CASCADE, related_name="approval_steps"
    )
    kind = models.CharField(max_length=12, choices=RoleChangeStepKind.choices)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=8, choices=RoleChangeStepStatus.choices)
    reason = models.CharField(max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    approvers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    task = models.ForeignKey(
        "worklist.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="role_change_steps"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["role_change_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["role_change", "kind"], name="role_change_step_unique")
        ]

    def __str__(self) -> str:
        return f"role change #{self.role_change_id}: {self.kind} {self.status}"


class AssignmentPolicy(models.Model):
    """A birthright rule (seed 002, "Políticas de atribuição"): every active user matching all
    its conditions holds ``role``, managed by the policy (not revocable by hand). An empty
    condition is not checked; a policy needs at least one."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    role = models.ForeignKey("directory.Role", on_delete=models.CASCADE, related_name="assignment_policies")
    active = models.BooleanField(default=True)
    organization = models.ForeignKey(
        "directory.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    include_sub_organizations = models.BooleanField(
        default=False, help_text="Users of the organization's sub-organizations match too."
    )
    department = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    employee_type = models.CharField(max_length=60, blank=True)
    attributes = models.JSONField(
        default=dict,
        blank=True,
        help_text="Administrator-defined attributes the user must have: {key: value}.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
