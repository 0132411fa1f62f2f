"""Privileged access (seed 003, "Access Workflow"): access groups and the justified, approved,
time-boxed use of the credentials they cover.

An **access group** says who (users, organizations, roles) may use which credentials
(administrative, application and shared accounts kept in the vault) and under what rule:
justification, approval in ordered levels, a maximum window, a governance code, emergency access.
A user who reaches one credential through several groups gets the rule of the **most
restrictive** one (``privileged.selectors.rule_for``).

An **access request** is one use of a credential: the reason, the window, the governance code;
PENDING while its levels approve, APPROVED for its window (the credential may be revealed or
checked in only then), and then EXPIRED (the window ended: the credential is given back and its
password rotated), REVOKED (an approver ended it early, with the same effect), DISAPPROVED or
CANCELED.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from worklist.models import ApprovalMode

#: The account types an access group may cover (seed 002: contas administrativas, de aplicação,
#: compartilhadas). Regular accounts belong to one person and are never shared this way.
CREDENTIAL_TYPES = ("ADMINISTRATIVE", "APPLICATION", "SHARED")


class CredentialType(models.TextChoices):
    """The account types of privileged credentials (a rotation policy's ``account_type``)."""

    ADMINISTRATIVE = "ADMINISTRATIVE", _("Administrative")
    APPLICATION = "APPLICATION", _("Application")
    SHARED = "SHARED", _("Shared")


class ItsmKind(models.TextChoices):
    SERVICENOW = "SERVICENOW", "ServiceNow (Table API)"
    JIRA = "JIRA", "Jira Service Management (REST API)"
    GLPI = "GLPI", "GLPI (REST API)"
    REST = "REST", _("Generic REST (URL template + JSON pointer)")


class ItsmInstance(models.Model):
    """An ITSM that checks governance codes (seeds 000/001): a ticket number must exist there and
    be in one of ``valid_states``. Its password or token is kept in the vault (``secret``)."""

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=12, choices=ItsmKind.choices)
    base_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="ServiceNow: https://<instance>.service-now.com; Jira: https://<site>.atlassian.net; "
        "GLPI: https://<host>/apirest.php",
    )
    url_template = models.CharField(
        max_length=500,
        blank=True,
        help_text="REST: the ticket's URL with {code}, e.g. https://itsm/api/tickets/{code}",
    )
    status_pointer = models.CharField(
        max_length=200, blank=True, help_text="REST: JSON pointer to the ticket's status, e.g. /data/status"
    )
    username = models.CharField(
        max_length=200,
        blank=True,
        help_text="ServiceNow: basic authentication user; Jira: the account's e-mail.",
    )
    secret = models.ForeignKey(
        "vault.Secret", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="ServiceNow: the user's password; Jira: an API token; GLPI: the user token; REST: a bearer token.",
    )  # fmt: skip
    app_secret = models.ForeignKey(
        "vault.Secret", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="GLPI: the API client's application token.",
    )  # fmt: skip
    valid_states = models.JSONField(
        default=list,
        help_text='States that make a ticket valid, e.g. ["1", "2", "3"] (New, In Progress, On Hold).',
    )
    timeout_seconds = models.PositiveSmallIntegerField(default=5)

    class Meta:
        ordering = ["name"]
        verbose_name = "ITSM instance"

    def __str__(self) -> str:
        return self.name

    @property
    def shows_status(self) -> bool:
        """Whether the ticket's status is shown to people: not for Jira (seed 000)."""
        return self.kind != ItsmKind.JIRA


class AccessGroup(models.Model):
    """Who may use which privileged credentials, and under which rule."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True, help_text="An inactive group gives nobody access.")
    member_users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="access_groups")
    member_organizations = models.ManyToManyField(
        "directory.Organization",
        blank=True,
        related_name="access_groups",
        help_text="Every user of these organizations (not their sub-organizations) is a member.",
    )
    member_roles = models.ManyToManyField(
        "directory.Role", blank=True, related_name="access_groups", help_text="Every member of these roles."
    )
    credentials = models.ManyToManyField(
        "directory.Account",
        blank=True,
        related_name="access_groups",
        limit_choices_to={"account_type__in": CREDENTIAL_TYPES},
    )
    justification_required = models.BooleanField(default=True)
    approval_required = models.BooleanField(default=True)
    max_window_minutes = models.PositiveIntegerField(
        default=240, help_text="The longest window a request may ask for (and an approver may set)."
    )
    governance_code_required = models.BooleanField(
        default=False, help_text="The request must name an ITSM ticket (incident, change, …)."
    )
    emergency_allowed = models.BooleanField(
        default=False, help_text="The requester may skip approval after confirming an emergency."
    )
    itsm = models.ForeignKey(
        ItsmInstance,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="groups",
        help_text="Checks the governance code (empty: only its form is checked).",
    )
    notify_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="access_groups_notified",
        help_text="Told of every request, approval, revocation and emergency access.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "access group"
        constraints = [
            models.CheckConstraint(
                condition=Q(max_window_minutes__gte=1), name="access_group_window_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name


class LevelApprover(models.TextChoices):
    USERS = "USERS", _("Named users")
    QUEUE = "QUEUE", _("A queue")
    OWNER = "OWNER", _("The credential's owner")


class AccessGroupLevel(models.Model):
    """One approval level of a group: its approvers and whether any one or all must approve."""

    group = models.ForeignKey(AccessGroup, on_delete=models.CASCADE, related_name="levels")
    position = models.PositiveSmallIntegerField(help_text="1, 2, …: levels approve in this order.")
    approver_kind = models.CharField(max_length=10, choices=LevelApprover.choices)
    mode = models.CharField(max_length=3, choices=ApprovalMode.choices, default=ApprovalMode.ANY)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    queue = models.ForeignKey(
        "worklist.Queue", null=True, blank=True, on_delete=models.PROTECT, related_name="access_levels"
    )

    class Meta:
        ordering = ["group_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["group", "position"], name="access_level_unique_position"),
            models.CheckConstraint(
                condition=~Q(approver_kind="QUEUE") | Q(queue__isnull=False), name="access_level_queue_set"
            ),
            models.CheckConstraint(condition=Q(position__gte=1), name="access_level_position_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.group} level {self.position}"


class AccessStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    APPROVED = "APPROVED", _("Approved")
    DISAPPROVED = "DISAPPROVED", _("Disapproved")
    CANCELED = "CANCELED", _("Canceled")
    REVOKED = "REVOKED", _("Revoked")
    EXPIRED = "EXPIRED", _("Expired")


#: Statuses a request never leaves.
FINISHED = (AccessStatus.DISAPPROVED, AccessStatus.CANCELED, AccessStatus.REVOKED, AccessStatus.EXPIRED)


class AccessRequest(models.Model):
    """One justified use of a credential for a window, under the rule of the most restrictive
    access group that gave the requester the credential when they asked (``group``; the rule's
    values are kept in ``rule`` so a later change of the group does not change a running
    request)."""

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests"
    )
    account = models.ForeignKey("directory.Account", on_delete=models.PROTECT, related_name="access_requests")
    group = models.ForeignKey(
        AccessGroup,
        null=True,
        on_delete=models.SET_NULL,
        related_name="requests",
        help_text="The rule's group.",
    )
    rule = models.JSONField(default=dict, help_text="The rule applied, as it was when the request was made.")
    reason = models.TextField(blank=True)
    governance_code = models.CharField(max_length=64, blank=True)
    itsm_status = models.CharField(max_length=300, blank=True, help_text="What the ITSM said of the code.")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    emergency = models.BooleanField(default=False, db_index=True)
    status = models.CharField(
        max_length=12, choices=AccessStatus.choices, default=AccessStatus.PENDING, db_index=True
    )
    level = models.PositiveSmallIntegerField(default=0, help_text="The approval level waiting (0: none).")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    close_reason = models.CharField(max_length=500, blank=True)
    used_at = models.DateTimeField(null=True, blank=True, help_text="When the credential was first revealed.")
    checkout = models.ForeignKey(
        "vault.AdministrativeCheckout",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The vault check-in this request opened (administrative and application accounts).",
    )
    review_task = models.ForeignKey(
        "worklist.Task",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The after-the-fact review of an emergency access.",
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = "access request"
        constraints = [
            models.CheckConstraint(
                condition=Q(window_end__gt=models.F("window_start")), name="access_window_order"
            ),
            # one live request per person and credential: a second one is refused, not queued
            models.UniqueConstraint(
                fields=["requester", "account"],
                condition=Q(status__in=["PENDING", "APPROVED"]),
                name="access_request_one_live",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "window_end"], name="access_request_due"),
            models.Index(fields=["account", "status"]),
        ]

    def __str__(self) -> str:
        return f"Access request #{self.pk}"


class RotationPolicy(models.Model):
    """When privileged passwords change besides the end of an access: every N days, after each
    check-out (application accounts too, whose check-out does not rotate by itself), and when a
    member of a shared account leaves. Applies to the accounts of ``account_type`` on
    ``resource`` (every resource when empty)."""

    name = models.CharField(max_length=200, unique=True)
    active = models.BooleanField(default=True)
    resource = models.ForeignKey(
        "directory.Resource",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rotation_policies",
    )
    account_type = models.CharField(max_length=15, choices=CredentialType.choices)
    every_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Rotate when the password is older than this (empty: never by age)."
    )
    after_checkout = models.BooleanField(default=False, help_text="Rotate whenever a check-out ends.")
    on_member_leave = models.BooleanField(
        default=False, help_text="Rotate a shared account at once when one of its members leaves."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("rotation policy")
        verbose_name_plural = _("rotation policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(every_days__isnull=True) | Q(every_days__gte=1),
                name="rotation_every_days_positive",
            )
        ]

    def __str__(self) -> str:
        return self.name
