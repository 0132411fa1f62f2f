"""Reconciliation (seed 002, "Reconciliação"): profiles that read an authoritative source (an HR
export) or an application back into the directory, the association rules that find each source
row's directory object, the action each situation leads to, the attribute mapping, and the runs.

A run stages every source row (``StagedRow``, written with COPY), classifies the rows in SQL
(one statement per association rule, never one query per row), then applies the actions through
the directory's services with source ``reconciliation``. Conflicts, orphans and rogue accounts
become worklist tasks about a ``ReconciliationCase``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ProfileKind(models.TextChoices):
    USERS = "USERS", _("Users")
    ACCOUNTS = "ACCOUNTS", _("Accounts")
    ENTITLEMENTS = "ENTITLEMENTS", _("Entitlements")
    MEMBERSHIPS = "MEMBERSHIPS", _("Entitlement memberships")


class SourceType(models.TextChoices):
    CSV = "csv", _("CSV file (HR export)")
    SQL = "sql", _("SQL table (PostgreSQL)")
    LDAP = "ldap", _("LDAP / Active Directory")
    REST = "rest", _("Generic REST")
    SCIM = "scim", _("SCIM 2.0")


class Situation(models.TextChoices):
    """What a source row (or a directory object the source lacks) turned out to be."""

    # users (seed: conflict, found, not found) and the directory's users the source no longer has
    FOUND = "FOUND", _("Entry found")
    NOT_FOUND = "NOT_FOUND", _("Entry not found")
    CONFLICT = "CONFLICT", _("Entry conflict")
    MISSING = "MISSING", _("In the directory, not in the source")
    # accounts (seed: the six situations)
    ACCOUNT_OWNER_NOT_FOUND = "ACCOUNT_OWNER_NOT_FOUND", _("Account and owner not found")
    ACCOUNT_FOUND_OWNER_NOT_FOUND = "ACCOUNT_FOUND_OWNER_NOT_FOUND", _("Account found, owner not found")
    ACCOUNT_NOT_FOUND_OWNER_FOUND = "ACCOUNT_NOT_FOUND_OWNER_FOUND", _("Account not found, owner found")
    OWNER_MISMATCH = "OWNER_MISMATCH", _("Account found with another owner")


class Action(models.TextChoices):
    CREATE = "CREATE", _("Create in the directory")
    UPDATE = "UPDATE", _("Update the directory")
    INACTIVATE = "INACTIVATE", _("Inactivate")
    REVOKE = "REVOKE", _("Revoke")
    LINK = "LINK", _("Link to the owner found")
    UNLINK = "UNLINK", _("Unlink (make orphan)")
    MANUAL = "MANUAL", _("Manual resolution (task)")
    IGNORE = "IGNORE", _("Ignore")
    NONE = "NONE", _("Nothing to change")


#: The situations of each kind and the actions an administrator may map each one to (seed 002).
SITUATION_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    ProfileKind.USERS: {
        Situation.FOUND: (Action.UPDATE, Action.IGNORE),
        Situation.NOT_FOUND: (Action.CREATE, Action.MANUAL, Action.IGNORE),
        Situation.CONFLICT: (Action.MANUAL, Action.IGNORE),
        Situation.MISSING: (Action.INACTIVATE, Action.REVOKE, Action.MANUAL, Action.IGNORE),
    },
    ProfileKind.ACCOUNTS: {
        Situation.FOUND: (Action.UPDATE, Action.IGNORE),
        Situation.OWNER_MISMATCH: (Action.LINK, Action.UNLINK, Action.MANUAL, Action.IGNORE),
        Situation.ACCOUNT_NOT_FOUND_OWNER_FOUND: (Action.LINK, Action.REVOKE, Action.MANUAL, Action.IGNORE),
        Situation.ACCOUNT_FOUND_OWNER_NOT_FOUND: (
            Action.UPDATE,
            Action.UNLINK,
            Action.REVOKE,
            Action.MANUAL,
            Action.IGNORE,
        ),
        Situation.ACCOUNT_OWNER_NOT_FOUND: (Action.CREATE, Action.REVOKE, Action.MANUAL, Action.IGNORE),
        Situation.CONFLICT: (Action.MANUAL, Action.IGNORE),
        Situation.MISSING: (Action.REVOKE, Action.MANUAL, Action.IGNORE),
    },
    ProfileKind.ENTITLEMENTS: {
        Situation.FOUND: (Action.UPDATE, Action.IGNORE),
        Situation.NOT_FOUND: (Action.CREATE, Action.MANUAL, Action.IGNORE),
        Situation.CONFLICT: (Action.MANUAL, Action.IGNORE),
    },
}

#: Actions that take access away: counted against the profile's safety limit.
DESTRUCTIVE = frozenset({Action.INACTIVATE, Action.REVOKE})

#: What a new profile does until the administrator says otherwise (the cautious choice).
DEFAULT_ACTIONS: dict[str, dict[str, str]] = {
    ProfileKind.USERS: {
        Situation.FOUND: Action.UPDATE,
        Situation.NOT_FOUND: Action.CREATE,
        Situation.CONFLICT: Action.MANUAL,
        Situation.MISSING: Action.INACTIVATE,
    },
    ProfileKind.ACCOUNTS: {
        Situation.FOUND: Action.UPDATE,
        Situation.OWNER_MISMATCH: Action.MANUAL,
        Situation.ACCOUNT_NOT_FOUND_OWNER_FOUND: Action.LINK,
        Situation.ACCOUNT_FOUND_OWNER_NOT_FOUND: Action.MANUAL,
        Situation.ACCOUNT_OWNER_NOT_FOUND: Action.MANUAL,
        Situation.CONFLICT: Action.MANUAL,
        Situation.MISSING: Action.MANUAL,
    },
    ProfileKind.ENTITLEMENTS: {
        Situation.FOUND: Action.UPDATE,
        Situation.NOT_FOUND: Action.CREATE,
        Situation.CONFLICT: Action.MANUAL,
    },
}


class ReconciliationProfile(models.Model):
    """One reconciliation the administrator set up: what it reads (a source connector and its
    settings; secrets in the vault), how rows find directory objects, what each situation does,
    how attributes map, when it runs and the limits that stop a run before it harms."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=12, choices=ProfileKind.choices)
    resource = models.ForeignKey(
        "directory.Resource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reconciliation_profiles",
        help_text="The application read (accounts, entitlements, memberships); empty for users.",
    )
    source_type = models.CharField(max_length=8, choices=SourceType.choices)
    source_settings = models.JSONField(default=dict, blank=True, help_text="Connector settings, no secrets.")
    secret_keys = models.JSONField(
        default=list, blank=True, help_text="Names of the settings kept in the vault."
    )
    secret = models.ForeignKey(
        "vault.Secret",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Vault secret holding the secret settings (JSON).",
    )
    key_field = models.CharField(
        max_length=100, default="identifier", help_text="The source field that identifies a row."
    )
    safety_share = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=5,
        help_text="A run that would inactivate or revoke more than this share (%) of the profile's "
        "objects waits for an administrator's confirmation.",
    )
    max_row_errors = models.PositiveIntegerField(
        default=100, help_text="A run with more malformed rows than this fails without changing anything."
    )
    schedule = models.CharField(
        max_length=100,
        blank=True,
        help_text="Cron expression (minute hour day month weekday); empty: on demand.",
    )
    active = models.BooleanField(default=True)
    incremental = models.BooleanField(
        default=False,
        help_text="Runs apply only the source rows that changed since the last applied run (row hashes); "
        "a full run applies every row.",
    )
    last_scheduled_at = models.DateTimeField(
        null=True, blank=True, help_text="The last minute the schedule started a run (one run per minute)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("reconciliation profile")
        verbose_name_plural = _("reconciliation profiles")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="USERS", resource__isnull=True)
                | (~Q(kind="USERS") & Q(resource__isnull=False)),
                name="recon_profile_resource_by_kind",
            ),
            models.CheckConstraint(
                condition=Q(safety_share__gte=0) & Q(safety_share__lte=100), name="recon_profile_share_pct"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RuleTarget(models.TextChoices):
    OBJECT = "OBJECT", _("The object (user or account)")
    OWNER = "OWNER", _("The account's owner")


class Operator(models.TextChoices):
    EQUALS = "EQUALS", _("equals")
    IEQUALS = "IEQUALS", _("equals (ignoring case)")
    STARTSWITH = "STARTSWITH", _("starts with")
    ENDSWITH = "ENDSWITH", _("ends with")


class AssociationRule(models.Model):
    """One condition that finds a source row's directory object: the object's ``attribute``
    compared by ``operator`` with ``value`` (fixed, ``{[field]}`` of the source row, or mixed).
    Rules run in ``position`` order per target; the first that finds anyone decides, and more
    than one candidate is a conflict, never a guess."""

    profile = models.ForeignKey(ReconciliationProfile, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveSmallIntegerField(default=1)
    target = models.CharField(max_length=6, choices=RuleTarget.choices, default=RuleTarget.OBJECT)
    attribute = models.CharField(max_length=100, help_text="username, email, … or attributes.<name>")
    operator = models.CharField(max_length=10, choices=Operator.choices, default=Operator.EQUALS)
    value = models.CharField(max_length=500, help_text="Fixed, {[field]} or mixed: {[first]}.{[last]}")

    class Meta:
        ordering = ["profile_id", "target", "position", "id"]

    def __str__(self) -> str:
        return f"{self.attribute} {self.get_operator_display()} {self.value}"


class SituationAction(models.Model):
    """What a profile does in one situation."""

    profile = models.ForeignKey(ReconciliationProfile, on_delete=models.CASCADE, related_name="actions")
    situation = models.CharField(max_length=32, choices=Situation.choices)
    action = models.CharField(max_length=12, choices=Action.choices)

    class Meta:
        ordering = ["profile_id", "id"]
        constraints = [models.UniqueConstraint(fields=["profile", "situation"], name="recon_action_one")]

    def __str__(self) -> str:
        return f"{self.get_situation_display()}: {self.get_action_display()}"


class MappingMode(models.TextChoices):
    STATIC = "STATIC", _("Static value")
    FIELD = "FIELD", _("Source field {[field]}")
    MIXED = "MIXED", _("Mixed text and fields")
    EXPRESSION = "EXPRESSION", _("Computed expression")


class AttributeMapping(models.Model):
    """How one directory field gets its value from a source row: a static value, a ``{[field]}``,
    mixed text, or a sandboxed expression (``reconciliation.expressions``, never ``eval``)."""

    profile = models.ForeignKey(ReconciliationProfile, on_delete=models.CASCADE, related_name="mappings")
    position = models.PositiveSmallIntegerField(default=1)
    target = models.CharField(max_length=100, help_text="first_name, email, … or attributes.<name>")
    mode = models.CharField(max_length=10, choices=MappingMode.choices, default=MappingMode.FIELD)
    value = models.TextField()

    class Meta:
        ordering = ["profile_id", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["profile", "target"], name="recon_mapping_one")]

    def __str__(self) -> str:
        return f"{self.target} ← {self.value}"


class RunStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    RUNNING = "RUNNING", _("Running")
    WAITING_CONFIRMATION = "WAITING_CONFIRMATION", _("Waiting for confirmation (safety limit)")
    APPLYING = "APPLYING", _("Applying")
    SUCCEEDED = "SUCCEEDED", _("Succeeded")
    FAILED = "FAILED", _("Failed")
    CANCELED = "CANCELED", _("Canceled")


class ReconciliationRun(models.Model):
    """One run of a profile: counts per situation and per action, the first rows of each
    situation, errors, duration, and where applying got to (``checkpoint``: resumable)."""

    profile = models.ForeignKey(ReconciliationProfile, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=22, choices=RunStatus.choices, default=RunStatus.PENDING)
    dry_run = models.BooleanField(default=False)
    full = models.BooleanField(default=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, default="console")
    rows_read = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0, help_text="Rows to apply (progress).")
    rows_done = models.PositiveIntegerField(default=0)
    situations = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=dict, blank=True)
    samples = models.JSONField(default=dict, blank=True, help_text="First rows of each situation.")
    destructive = models.PositiveIntegerField(default=0)
    population = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the run failed or stopped.")
    checkpoint = models.BigIntegerField(default=0, help_text="Last staged row applied.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    planned_at = models.DateTimeField(null=True, blank=True, help_text="When reading and classifying ended.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        indexes = [models.Index(fields=["profile", "status"])]

    def __str__(self) -> str:
        return f"run #{self.pk} of {self.profile}"

    @property
    def progress(self) -> int:
        if self.status == RunStatus.SUCCEEDED:
            return 100
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0

    @property
    def eta_seconds(self) -> int | None:
        """Seconds left while applying, at the pace so far (None: not applying or no pace yet)."""
        if self.status != RunStatus.APPLYING or not self.rows_done or self.planned_at is None:
            return None
        elapsed = (timezone.now() - self.planned_at).total_seconds()
        return int(elapsed / self.rows_done * max(self.rows_total - self.rows_done, 0))

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class RunRowError(models.Model):
    """A source row the run could not use (malformed, duplicate key, bad mapping) or could not
    apply, with the reason."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField(help_text="Line of the row in the source (0: not a source row).")
    key = models.CharField(max_length=255, blank=True)
    reason = models.TextField()

    class Meta:
        ordering = ["run_id", "row", "id"]

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


class StagedRow(models.Model):
    """A source row of one run (or a directory object the source lacks), written with COPY and
    classified in SQL: the values of its association rules, the candidates found, its situation
    and planned action."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="+")
    row = models.PositiveIntegerField()
    key = models.CharField(max_length=255)
    data = models.JSONField(default=dict)
    values = models.JSONField(default=dict, help_text="Mapped target values.")
    o1 = models.CharField(max_length=500, blank=True)
    o2 = models.CharField(max_length=500, blank=True)
    o3 = models.CharField(max_length=500, blank=True)
    w1 = models.CharField(max_length=500, blank=True)
    w2 = models.CharField(max_length=500, blank=True)
    w3 = models.CharField(max_length=500, blank=True)
    object_min = models.BigIntegerField(null=True)
    object_max = models.BigIntegerField(null=True)
    owner_min = models.BigIntegerField(null=True)
    owner_max = models.BigIntegerField(null=True)
    current_owner = models.BigIntegerField(null=True)
    row_hash = models.CharField(max_length=40, blank=True)
    situation = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=12, blank=True)
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["run_id", "id"]
        indexes = [models.Index(fields=["run", "situation"]), models.Index(fields=["run", "key"])]


class ReconciliationLink(models.Model):
    """Which directory user a users profile's source key stood for at the last run: a key the
    source no longer has is a leaver (situation MISSING)."""

    profile = models.ForeignKey(ReconciliationProfile, on_delete=models.CASCADE, related_name="links")
    key = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "key"], name="recon_link_key"),
            models.UniqueConstraint(fields=["profile", "user"], name="recon_link_user"),
        ]


class SourceRowHash(models.Model):
    """The hash of each source row at a profile's last applied run: an incremental run applies
    only the rows whose hash changed."""

    profile = models.ForeignKey(ReconciliationProfile, on_delete=models.CASCADE, related_name="row_hashes")
    key = models.CharField(max_length=255)
    hash = models.CharField(max_length=40)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["profile", "key"], name="recon_row_hash_key")]


class CaseStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    RESOLVED = "RESOLVED", _("Resolved")


class ReconciliationCase(models.Model):
    """A row a person must decide (a conflict, an orphan or rogue account, a leaver left to a
    person): the source row, the candidates side by side, the task and how it was resolved."""

    profile = models.ForeignKey(ReconciliationProfile, on_delete=models.CASCADE, related_name="cases")
    run = models.ForeignKey(ReconciliationRun, null=True, on_delete=models.SET_NULL, related_name="cases")
    situation = models.CharField(max_length=32, choices=Situation.choices)
    key = models.CharField(max_length=255)
    data = models.JSONField(default=dict)
    account = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    candidates = models.JSONField(default=list, help_text="Ids of the candidate users (or accounts).")
    status = models.CharField(max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    resolution = models.CharField(max_length=200, blank=True)
    task = models.ForeignKey(
        "worklist.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("reconciliation case")
        verbose_name_plural = _("reconciliation cases")
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "key"], condition=Q(status="OPEN"), name="recon_case_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_situation_display()}: {self.key}"
