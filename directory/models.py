"""The directory: users, organizations, resources, accounts, entitlements, roles and the
memberships between them (seed 002, "Diretório").

How an access is managed is data: an account or entitlement membership is kept while any
role grants it (``*RoleGrant`` rows) or a manual decision keeps it (``manual``); ``management``
is the denormalised summary (ROLE when any role grants it) used for filtering and rules.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Source(models.TextChoices):
    CONSOLE = "console", _("Admin console")
    WORKSPACE = "workspace", _("Workspace")
    IMPORT = "import", _("Import")
    RECONCILIATION = "reconciliation", _("Reconciliation")
    AUTOMATIC = "automatic", _("Automatic")
    API = "api", _("API")
    SCIM = "scim", _("SCIM")
    CERTIFICATION = "certification", _("Certification")


class Criticality(models.TextChoices):
    LOW = "LOW", _("Low")
    MEDIUM = "MEDIUM", _("Medium")
    HIGH = "HIGH", _("High")
    CRITICAL = "CRITICAL", _("Critical")


class Organization(models.Model):
    """A business unit (company, department, cost centre) users belong to."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_organizations",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Active")
    INACTIVE = "INACTIVE", _("Inactive")
    REVOKED = "REVOKED", _("Revoked")
    REMOVED = "REMOVED", _("Removed")


class ConsoleRole(models.TextChoices):
    """Internal administrative roles for the console and the API (least privilege)."""

    NONE = "", _("None (workspace only)")
    ADMINISTRATOR = "ADMINISTRATOR", _("Administrator")
    HELPDESK = "HELPDESK", _("Help desk")
    AUDITOR = "AUDITOR", _("Auditor (read-only)")


class BlazonUserManager(UserManager["User"]):
    pass


class User(AbstractUser):
    """An identity (usually a person): attributes, a life-cycle status and accesses."""

    display_name = models.CharField(max_length=300, blank=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="direct_reports"
    )
    job_title = models.CharField(max_length=200, blank=True)
    department = models.CharField(max_length=200, blank=True, db_index=True)
    employee_type = models.CharField(max_length=60, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=UserStatus.choices, default=UserStatus.ACTIVE, db_index=True
    )
    login_locked = models.BooleanField(default=False, help_text=_("Login block, independent of the status."))
    inactive_since = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    console_role = models.CharField(max_length=20, choices=ConsoleRole.choices, blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True, help_text=_("Administrator-defined attributes."))
    created_source = models.CharField(max_length=20, choices=Source.choices, default=Source.CONSOLE)

    # the user's own language for the screens and e-mails (a LANGUAGES code); blank: the browser's
    # (a database default too: the bulk importer COPYs users without this column)
    language = models.CharField(
        max_length=10, choices=settings.LANGUAGES, blank=True, default="", db_default=""
    )

    objects: ClassVar[BlazonUserManager] = BlazonUserManager()

    class Meta:
        ordering = ["username"]
        indexes = [models.Index(fields=["last_name", "first_name"])]

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @property
    def effective_console_role(self) -> str:
        if self.is_superuser:
            return ConsoleRole.ADMINISTRATOR
        return self.console_role


class AttributeScope(models.TextChoices):
    USER = "USER", _("User")
    ACCOUNT = "ACCOUNT", _("Account")
    ENTITLEMENT = "ENTITLEMENT", _("Entitlement")


class AttributeType(models.TextChoices):
    STRING = "STRING", _("Text")
    INTEGER = "INTEGER", _("Integer")
    BOOLEAN = "BOOLEAN", _("Yes/No")
    DATE = "DATE", _("Date")
    EMAIL = "EMAIL", _("E-mail")


class AttributeDefinition(models.Model):
    """An administrator-defined attribute of users, or of one resource's accounts or entitlements."""

    scope = models.CharField(max_length=12, choices=AttributeScope.choices)
    resource = models.ForeignKey(
        "Resource", null=True, blank=True, on_delete=models.CASCADE, related_name="attribute_definitions"
    )
    name = models.SlugField(max_length=64)
    label = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=AttributeType.choices, default=AttributeType.STRING)
    required = models.BooleanField(default=False)
    unique = models.BooleanField(default=False)
    regex = models.CharField(max_length=500, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["scope", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["scope", "resource", "name"], name="attrdef_unique_name"),
            models.UniqueConstraint(
                fields=["scope", "name"],
                condition=Q(resource__isnull=True),
                name="attrdef_unique_global_name",
            ),
            models.CheckConstraint(
                condition=(
                    Q(scope="USER", resource__isnull=True) | (~Q(scope="USER") & Q(resource__isnull=False))
                ),
                name="attrdef_scope_resource",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.name}"


class UsernamePolicy(models.Model):
    """How usernames are produced: patterns tried in order, then numeric suffixes."""

    name = models.CharField(max_length=100, default="Default")
    active = models.BooleanField(default=True)
    patterns = models.JSONField(
        default=list,
        help_text=_('Tried in order, e.g. ["{first}.{last}", "{first}.{middle_initial}.{last}"].'),
    )
    lowercase = models.BooleanField(default=True)
    max_length = models.PositiveIntegerField(default=30)
    numeric_suffix = models.BooleanField(
        default=True, help_text=_("Append 2, 3, … to the first pattern if all are taken.")
    )
    max_suffix = models.PositiveIntegerField(default=99)

    class Meta:
        verbose_name_plural = _("username policies")

    def __str__(self) -> str:
        return self.name


class ProvisioningEvent(models.TextChoices):
    """The eleven provisioning event types of seed 002."""

    CREATE_ACCOUNT = "CREATE_ACCOUNT", _("Create account")
    UPDATE_ACCOUNT = "UPDATE_ACCOUNT", _("Update account")
    INACTIVATE_ACCOUNT = "INACTIVATE_ACCOUNT", _("Inactivate account")
    ACTIVATE_ACCOUNT = "ACTIVATE_ACCOUNT", _("Activate account")
    REVOKE_ACCOUNT = "REVOKE_ACCOUNT", _("Revoke account")
    CHANGE_PASSWORD = "CHANGE_PASSWORD", _("Change password")
    GRANT_ENTITLEMENT = "GRANT_ENTITLEMENT", _("Grant entitlement")
    REVOKE_ENTITLEMENT = "REVOKE_ENTITLEMENT", _("Revoke entitlement")
    CREATE_ENTITLEMENT = "CREATE_ENTITLEMENT", _("Create entitlement")
    UPDATE_ENTITLEMENT = "UPDATE_ENTITLEMENT", _("Update entitlement")
    REMOVE_ENTITLEMENT = "REMOVE_ENTITLEMENT", _("Remove entitlement")


class ProvisioningMode(models.TextChoices):
    AUTOMATIC = "AUTOMATIC", _("Automatic")
    MANUAL = "MANUAL", _("Manual")
    DISABLED = "DISABLED", _("Disabled")


def default_provisioning_modes() -> dict[str, str]:
    return {event: ProvisioningMode.DISABLED for event in ProvisioningEvent.values}


class Resource(models.Model):
    """An application whose accesses Blazon governs (Active Directory, SAP, GitHub, …)."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="owned_resources")
    criticality = models.CharField(max_length=10, choices=Criticality.choices, default=Criticality.MEDIUM)
    self_service = models.BooleanField(default=True, help_text=_("Listed in the workspace catalog."))
    certifiable = models.BooleanField(default=True)
    provisioning_modes = models.JSONField(default=default_provisioning_modes)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def mode_for(self, event: str) -> str:
        return (self.provisioning_modes or {}).get(event, ProvisioningMode.DISABLED)


class AccountType(models.TextChoices):
    REGULAR = "REGULAR", _("Regular")
    APPLICATION = "APPLICATION", _("Application")
    SHARED = "SHARED", _("Shared")
    ADMINISTRATIVE = "ADMINISTRATIVE", _("Administrative")


class AccountStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Active")
    INACTIVE = "INACTIVE", _("Inactive")
    REVOKED = "REVOKED", _("Revoked")


class Management(models.TextChoices):
    MANUAL = "MANUAL", _("Manual")
    ROLE = "ROLE", _("Role")


class Account(models.Model):
    """A credential on one resource. Orphan when it has no owner."""

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="accounts")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts"
    )
    identifier = models.CharField(max_length=255, help_text=_("The account's name on the resource."))
    account_type = models.CharField(max_length=15, choices=AccountType.choices, default=AccountType.REGULAR)
    status = models.CharField(
        max_length=10, choices=AccountStatus.choices, default=AccountStatus.ACTIVE, db_index=True
    )
    management = models.CharField(max_length=10, choices=Management.choices, default=Management.MANUAL)
    manual = models.BooleanField(default=True, help_text=_("A manual decision keeps this account."))
    is_temporary = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="responsible_accounts",
        help_text=_("Responsible user (administrator) of a non-nominal account."),
    )
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["resource_id", "identifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "resource"],
                condition=Q(account_type="REGULAR", owner__isnull=False),
                name="account_one_regular_per_user_resource",
            ),
            models.UniqueConstraint(fields=["resource", "identifier"], name="account_unique_identifier"),
            models.CheckConstraint(
                condition=Q(is_temporary=False) | Q(expires_at__isnull=False),
                name="account_temporary_has_expiry",
            ),
        ]
        indexes = [models.Index(fields=["owner", "resource"]), models.Index(fields=["resource", "status"])]

    def __str__(self) -> str:
        return f"{self.identifier}@{self.resource.code}" if self.resource_id else self.identifier

    @property
    def is_orphan(self) -> bool:
        return self.owner_id is None


class SharedAccountMember(models.Model):
    """A user allowed to use a SHARED account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="shared_members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shared_accounts"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user"], name="shared_member_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.account_id}"


class Entitlement(models.Model):
    """A permission inside a resource (a group, a profile, a role of the application)."""

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="entitlements")
    identifier = models.CharField(max_length=255)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_entitlements",
    )
    criticality = models.CharField(max_length=10, choices=Criticality.choices, default=Criticality.MEDIUM)
    self_service = models.BooleanField(default=True)
    certifiable = models.BooleanField(default=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["resource_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "identifier"], name="entitlement_unique_identifier")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.resource.code})" if self.resource_id else self.name


class EntitlementMembership(models.Model):
    """An account holding an entitlement."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="memberships")
    management = models.CharField(max_length=10, choices=Management.choices, default=Management.MANUAL)
    manual = models.BooleanField(default=True, help_text=_("A manual decision keeps this membership."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["account", "entitlement"], name="membership_unique")]
        indexes = [models.Index(fields=["entitlement", "account"])]

    def __str__(self) -> str:
        return f"{self.account_id} ∈ {self.entitlement_id}"


class Role(models.Model):
    """A named bundle of resources and entitlements granted together (RBAC)."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_roles"
    )
    criticality = models.CharField(max_length=10, choices=Criticality.choices, default=Criticality.MEDIUM)
    self_service = models.BooleanField(default=True)
    certifiable = models.BooleanField(default=True)
    resources: models.ManyToManyField[Resource, RoleResource] = models.ManyToManyField(
        Resource, through="RoleResource", related_name="roles", blank=True
    )
    entitlements: models.ManyToManyField[Entitlement, RoleEntitlement] = models.ManyToManyField(
        Entitlement, through="RoleEntitlement", related_name="roles", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RoleResource(models.Model):
    """A role grants its members an account on this resource."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="role_resources")
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="role_resources")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "resource"], name="role_resource_unique")]

    def __str__(self) -> str:
        return f"{self.role_id} → resource {self.resource_id}"


class RoleEntitlement(models.Model):
    """A role grants its members this entitlement (on their account of its resource)."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="role_entitlements")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="role_entitlements")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["role", "entitlement"], name="role_entitlement_unique")
        ]

    def __str__(self) -> str:
        return f"{self.role_id} → entitlement {self.entitlement_id}"


class RoleMembershipManagement(models.TextChoices):
    MANUAL = "MANUAL", _("Manual")
    ASSIGNMENT_POLICY = "ASSIGNMENT_POLICY", _("Assignment policy")


class RoleMembership(models.Model):
    """A user holding a role."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_memberships"
    )
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="memberships")
    management = models.CharField(
        max_length=20, choices=RoleMembershipManagement.choices, default=RoleMembershipManagement.MANUAL
    )
    start_date = models.DateTimeField(null=True, blank=True)
    end_date = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="role_membership_unique")]
        indexes = [models.Index(fields=["role", "user"])]

    def __str__(self) -> str:
        return f"{self.user_id} ∈ role {self.role_id}"


class AccountRoleGrant(models.Model):
    """Role ``role`` keeps account ``account``."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="role_grants")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="account_grants")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "role"], name="account_grant_unique")]
        indexes = [models.Index(fields=["role", "account"])]

    def __str__(self) -> str:
        return f"role {self.role_id} keeps account {self.account_id}"


class MembershipRoleGrant(models.Model):
    """Role ``role`` keeps entitlement membership ``membership``."""

    membership = models.ForeignKey(
        EntitlementMembership, on_delete=models.CASCADE, related_name="role_grants"
    )
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="membership_grants")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["membership", "role"], name="membership_grant_unique")]
        indexes = [models.Index(fields=["role", "membership"])]

    def __str__(self) -> str:
        return f"role {self.role_id} keeps membership {self.membership_id}"


class DirectoryEventKind(models.TextChoices):
    OWNER_CHANGE = "OWNER_CHANGE", _("Owner change")
    ACCOUNT_ADMIN_CHANGE = "ACCOUNT_ADMIN_CHANGE", _("Application account administrator change")
    SHARED_MEMBER_REMOVED = "SHARED_MEMBER_REMOVED", _("Shared account member removed (rotate password)")
    SHARED_MEMBER_REVIEW = "SHARED_MEMBER_REVIEW", _("Shared account member inactivated (remove or keep)")
    CHECKOUT_RELEASED = "CHECKOUT_RELEASED", _("Administrative check-out released")


class DirectoryEventDecision(models.TextChoices):
    """How a follow-up event was resolved."""

    REASSIGN = "REASSIGN", _("New owner / responsible chosen")
    CONTINUITY = "CONTINUITY", _("Continuity (kept as it is)")
    REMOVE = "REMOVE", _("Member removed from the shared account")
    DONE = "DONE", _("Done (password rotated, check-out noted)")


class DirectoryEventStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    CANCELED = "CANCELED", _("Canceled")
    RESOLVED = "RESOLVED", _("Resolved")


class DirectoryEvent(models.Model):
    """Follow-up work a life-cycle cascade leaves for people: pick a new owner, rotate a shared
    password. Canceled when the user comes back (activation)."""

    kind = models.CharField(max_length=30, choices=DirectoryEventKind.choices)
    status = models.CharField(
        max_length=10, choices=DirectoryEventStatus.choices, default=DirectoryEventStatus.OPEN
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="directory_events"
    )
    user_repr = models.CharField(max_length=200, blank=True)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    decision = models.CharField(max_length=12, choices=DirectoryEventDecision.choices, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    new_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The new owner / responsible a REASSIGN decision chose."),
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "status"]), models.Index(fields=["status", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_type}:{self.object_id}"


class RoleChangeStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    RUNNING = "RUNNING", _("Running")
    DONE = "DONE", _("Done")
    FAILED = "FAILED", _("Failed")
    # the approval steps of seed 004 (sod.services.role_changes): waiting for a decision, or
    # denied (the role is left unchanged)
    WAITING = "WAITING", _("Waiting for approval")
    REJECTED = "REJECTED", _("Rejected")


class RoleChange(models.Model):
    """A role change entry (seed 004): one item added to or removed from a role, applied to all
    its members by a background job whose progress the console shows."""

    class Action(models.TextChoices):
        ADD = "ADD", _("Add")
        REMOVE = "REMOVE", _("Remove")

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=6, choices=Action.choices)
    resource = models.ForeignKey(Resource, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    entitlement = models.ForeignKey(
        Entitlement, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    keep_as_manual = models.BooleanField(
        default=False,
        help_text=_("On removal, keep the members' access as manually managed instead of revoking it."),
    )
    status = models.CharField(
        max_length=10, choices=RoleChangeStatus.choices, default=RoleChangeStatus.PENDING
    )
    members_affected = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.CONSOLE)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(resource__isnull=False, entitlement__isnull=True)
                    | Q(resource__isnull=True, entitlement__isnull=False)
                ),
                name="role_change_one_item",
            )
        ]

    def __str__(self) -> str:
        item = self.entitlement or self.resource
        return f"{self.action} {item} on {self.role}"
