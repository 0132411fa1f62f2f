"""Certification (seed 002, "Certificação"): the periodic review of who holds which access.

A *policy* says what is certified (accounts, entitlement memberships, role memberships, narrowed
by criticality, resource, entitlement, role and organization), who reviews it, how often and for
how long, and what happens to the items nobody decided by the end (kept or revoked). A
*campaign* is one run of a policy (or of a filter given by an administrator): it holds one
*item* per access under review. A reviewer keeps or revokes each item; a revoke becomes a
``REVOKE_*`` request of the pipeline (source ``certification``), so approval, provisioning and
rollback apply, and the item shows that request's outcome.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ObjectKind(models.TextChoices):
    ACCOUNT = "ACCOUNT", _("Account")
    ENTITLEMENT = "ENTITLEMENT", _("Entitlement membership")
    ROLE = "ROLE", _("Role membership")


class ReviewerKind(models.TextChoices):
    MANAGER = "MANAGER", _("The beneficiary's manager")
    OWNER = "OWNER", _("The access's owner (resource, entitlement or role owner)")
    USER = "USER", _("A named user")
    QUEUE = "QUEUE", _("A task queue")


class UndecidedAction(models.TextChoices):
    KEEP = "KEEP", _("Keep the access")
    REVOKE = "REVOKE", _("Revoke the access")


class PolicyTrigger(models.TextChoices):
    PERIODIC = "PERIODIC", _("Periodic")
    ATTRIBUTE_CHANGE = "ATTRIBUTE_CHANGE", _("When a user attribute changes")


#: The standard user fields an attribute-change policy can watch (administrator-defined
#: attributes are watched as ``attributes.<name>``).
MONITORABLE_FIELDS = {
    "job_title": _("Job title"),
    "department": _("Department"),
    "organization": _("Organization"),
    "manager": _("Manager"),
    "employee_type": _("Employee type"),
}


class CertificationPolicy(models.Model):
    """A certification policy (seed 002, "Políticas de Certificação"). Periodic: every
    ``period_days`` a campaign of ``duration_days`` puts the eligible accesses it selects to
    review. Attribute change: when one of ``monitored_attributes`` of a user changes, a campaign of
    ``duration_days`` puts that user's eligible accesses to review (by their new manager)."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True, help_text="Inactive policies start no campaign.")
    include_accounts = models.BooleanField(default=True)
    include_entitlements = models.BooleanField(default=True)
    include_roles = models.BooleanField(default=True)
    criticalities = models.JSONField(
        default=list, blank=True, help_text="Only accesses of these criticalities (empty: any)."
    )
    resource = models.ForeignKey(
        "directory.Resource", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entitlement = models.ForeignKey(
        "directory.Entitlement", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    role = models.ForeignKey(
        "directory.Role", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(
        "directory.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewer_kind = models.CharField(
        max_length=10, choices=ReviewerKind.choices, default=ReviewerKind.MANAGER
    )
    reviewer_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewer_queue = models.ForeignKey(
        "worklist.Queue", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fallback_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Reviews when the reviewer is missing or is the beneficiary.",
    )
    trigger = models.CharField(max_length=16, choices=PolicyTrigger.choices, default=PolicyTrigger.PERIODIC)
    monitored_attributes = models.JSONField(
        default=list,
        blank=True,
        help_text="Attribute-change policies: the user fields watched (job_title, department, "
        "organization, manager, employee_type, attributes.<name>).",
    )
    period_days = models.PositiveIntegerField(default=180, help_text="A campaign every N days.")
    duration_days = models.PositiveIntegerField(default=30, help_text="Reviewers have N days.")
    undecided_action = models.CharField(
        max_length=10, choices=UndecidedAction.choices, default=UndecidedAction.KEEP
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("certification policy")
        verbose_name_plural = _("certification policies")
        constraints = [
            models.CheckConstraint(condition=Q(period_days__gte=1), name="cert_policy_period_positive"),
            models.CheckConstraint(condition=Q(duration_days__gte=1), name="cert_policy_duration_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignStatus(models.TextChoices):
    RUNNING = "RUNNING", _("Running")
    FINISHED = "FINISHED", _("Finished")
    CANCELLED = "CANCELLED", _("Cancelled")


class CertificationCampaign(models.Model):
    """One review: the items it put to review between ``started_at`` and ``ends_at``. ``scope``
    records what selected them (the policy's filters at the start, or the administrator's)."""

    name = models.CharField(max_length=200)
    policy = models.ForeignKey(
        CertificationPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    scope = models.JSONField(default=dict, blank=True, help_text="The selection and reviewers, as started.")
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.RUNNING)
    undecided_action = models.CharField(
        max_length=10, choices=UndecidedAction.choices, default=UndecidedAction.KEEP
    )
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    item_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("certification campaign")
        verbose_name_plural = _("certification campaigns")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("started_at")), name="cert_campaign_ordered"
            )
        ]
        indexes = [models.Index(fields=["status", "ends_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def running(self) -> bool:
        return self.status == CampaignStatus.RUNNING


class Decision(models.TextChoices):
    NONE = "NONE", _("Not decided")
    KEEP = "KEEP", _("Keep")
    REVOKE = "REVOKE", _("Revoke")


#: What a reviewer may decide (the API's input).
DECIDE_CHOICES = [(Decision.KEEP.value, "Keep"), (Decision.REVOKE.value, "Revoke")]


class Outcome(models.TextChoices):
    PENDING = "PENDING", _("Waiting for a decision")
    KEPT = "KEPT", _("Kept")
    REVOKING = "REVOKING", _("Revocation in progress")
    REVOKED = "REVOKED", _("Revoked")
    REVOKE_FAILED = "REVOKE_FAILED", _("Revocation did not happen")
    CANCELLED = "CANCELLED", _("Campaign cancelled")


class CertificationItem(models.Model):
    """One access under review in a campaign: what it is (an account, an entitlement membership
    or a role membership), whose it is, who reviews it, the decision and what came of it.

    ``active`` is true while the campaign runs: an access is in at most one active item (partial
    unique indexes), which is the seed's "not already in a certification in progress". The
    resource, entitlement and role are kept beside the access so the item still says what it was
    once the access is revoked (a revoked membership row is deleted)."""

    campaign = models.ForeignKey(CertificationCampaign, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=12, choices=ObjectKind.choices)
    account = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Not foreign keys: a revoked membership row is deleted, also by set-based paths that bypass
    # Django's collector (the request pipeline's batch revoke), and the item must outlive it.
    membership_id = models.BigIntegerField(null=True, blank=True, help_text="The entitlement membership.")
    role_membership_id = models.BigIntegerField(null=True, blank=True, help_text="The role membership.")
    beneficiary = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="certification_items"
    )
    resource = models.ForeignKey(
        "directory.Resource", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    entitlement = models.ForeignKey(
        "directory.Entitlement", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    role = models.ForeignKey(
        "directory.Role", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    criticality = models.CharField(max_length=10, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="certification_reviews",
    )
    queue = models.ForeignKey(
        "worklist.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer_is_fallback = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    decision = models.CharField(max_length=8, choices=Decision.choices, default=Decision.NONE)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    request = models.ForeignKey(
        "requests_workflow.Request", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=14, choices=Outcome.choices, default=Outcome.PENDING)
    # the share of the beneficiary's peers (other ACTIVE users with the same job title and
    # department) who hold the same access, counted once when the campaign is generated
    # (certification.services.peers); empty on items made one at a time (micro-certification)
    peers = models.IntegerField(null=True, blank=True)
    peers_holding = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("certification item")
        verbose_name_plural = _("certification items")
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(active=True, kind="ACCOUNT"),
                name="cert_item_one_live_account",
            ),
            models.UniqueConstraint(
                fields=["membership_id"], condition=Q(active=True), name="cert_item_one_live_membership"
            ),
            models.UniqueConstraint(
                fields=["role_membership_id"],
                condition=Q(active=True),
                name="cert_item_one_live_role_membership",
            ),
            models.CheckConstraint(
                condition=(Q(decision="NONE") & Q(decided_at__isnull=True))
                | (~Q(decision="NONE") & Q(decided_at__isnull=False)),
                name="cert_item_decided_at",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "reviewer", "decision"]),
            models.Index(fields=["reviewer", "active"]),
            models.Index(fields=["campaign", "decision"]),
        ]

    def __str__(self) -> str:
        return f"{self.access_label} of {self.beneficiary}" if self.beneficiary_id else self.access_label

    @property
    def access_label(self) -> str:
        if self.kind == ObjectKind.ROLE:
            return f"Role {self.role.name}" if self.role_id and self.role else "Role (deleted)"
        if self.kind == ObjectKind.ENTITLEMENT:
            return (
                str(self.entitlement) if self.entitlement_id and self.entitlement else "Entitlement (deleted)"
            )
        return (
            f"Account on {self.resource.name}" if self.resource_id and self.resource else "Account (deleted)"
        )
