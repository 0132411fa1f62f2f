"""Provisioning entries: the outbox of changes the applications must receive (seed 002,
"Provisionamento"). The directory writes them in its transaction; resource adapters pull them
through the adapter API (``provisioning.api``) with OAuth2 client credentials, lease them,
and report the outcome; a final failure goes to a manual provisioning task."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from directory.models import ProvisioningEvent, ProvisioningMode


class EntryStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    PULLED = "PULLED", _("Pulled by adapter")
    SUCCEEDED = "SUCCEEDED", _("Succeeded")
    FAILED = "FAILED", _("Failed")
    WAITING_FAILOVER_RESOLVING = "WAITING_FAILOVER_RESOLVING", _("Waiting manual resolution")
    CANCELED = "CANCELED", _("Canceled")


#: Statuses of an entry whose change has not reached a final outcome: a later entry for the
#: same object waits for it (a grant never runs before its account exists).
OPEN_STATUSES = (EntryStatus.PENDING, EntryStatus.PULLED, EntryStatus.WAITING_FAILOVER_RESOLVING)
#: Events about an entitlement itself (not about one account's membership of it).
ENTITLEMENT_EVENTS = (
    ProvisioningEvent.CREATE_ENTITLEMENT,
    ProvisioningEvent.UPDATE_ENTITLEMENT,
    ProvisioningEvent.REMOVE_ENTITLEMENT,
)


class ProvisioningEntry(models.Model):
    """One change an application must receive: create/revoke an account, grant an entitlement…"""

    resource = models.ForeignKey(
        "directory.Resource", on_delete=models.PROTECT, related_name="provisioning_entries"
    )
    event_type = models.CharField(max_length=24, choices=ProvisioningEvent.choices)
    mode = models.CharField(max_length=10, choices=ProvisioningMode.choices)
    status = models.CharField(
        max_length=30, choices=EntryStatus.choices, default=EntryStatus.PENDING, db_index=True
    )
    account = models.ForeignKey(
        "directory.Account",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provisioning_entries",
    )
    entitlement = models.ForeignKey(
        "directory.Entitlement",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provisioning_entries",
    )
    user_id_ref = models.BigIntegerField(null=True, blank=True, db_index=True)
    payload = models.JSONField(
        default=dict, blank=True, help_text=_("Identifiers the adapter needs; never secrets.")
    )
    correlation_id = models.CharField(
        max_length=64,
        blank=True,
        help_text=_(
            "Trace tag of the call that wrote the entry (logs, audit); never used to find its request."
        ),
    )
    # The request whose stage 4 wrote the entry (set by the pipeline, ``entries_for_request``):
    # its outcome settles that request. A string model reference: provisioning sits below
    # requests_workflow and imports nothing from it.
    request = models.ForeignKey(
        "requests_workflow.Request",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provisioning_entries",
        help_text=_("The request this entry carries out; its outcome settles the request."),
    )
    rollback_of = models.ForeignKey(
        "requests_workflow.Request",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rollback_entries",
        help_text=_("The failed request whose directory change this entry undoes; it settles nothing."),
    )
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    # --- delivery to a resource adapter (lease) ---
    lease_owner = models.ForeignKey(
        "provisioning.AdapterClient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leased_entries",
        help_text=_("The adapter that pulled the entry last (and reported it, once finished)."),
    )
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text=_("A PULLED entry goes back to the pool after this.")
    )
    pulled_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text=_("How many times an adapter pulled it."))
    transient_failures = models.PositiveIntegerField(default=0)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text=_("After a transient failure: not handed out again before this.")
    )
    last_error = models.TextField(blank=True)
    result = models.JSONField(
        default=dict, blank=True, help_text=_("What the application answered: native identifier, attributes.")
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    # --- manual resolution after a final failure ---
    manual_task = models.OneToOneField(
        "worklist.Task",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provisioning_entry",
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["resource", "status", "id"]),
            # the per-object ordering check of the pull query looks for open entries by object
            models.Index(
                fields=["account", "id"],
                condition=Q(status__in=OPEN_STATUSES),
                name="prov_entry_open_account",
            ),
            models.Index(
                fields=["entitlement", "id"],
                condition=Q(status__in=OPEN_STATUSES),
                name="prov_entry_open_entitlement",
            ),
            # the manual-mode sweep looks for MANUAL entries still without their task
            models.Index(
                fields=["id"],
                condition=Q(mode="MANUAL", status="PENDING", manual_task__isnull=True),
                name="prov_entry_manual_no_task",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="PULLED") | Q(lease_until__isnull=False, lease_owner__isnull=False),
                name="prov_entry_pulled_has_lease",
            ),
        ]
        verbose_name_plural = _("provisioning entries")

    def __str__(self) -> str:
        return f"{self.event_type} on {self.resource_id} ({self.status})"


class AdapterClient(models.Model):
    """A resource adapter allowed to pull entries: one OAuth2 application (client credentials)
    bound to the resources it serves. It never sees nor reports another resource's entries.
    Secrets an entry carries (initial or rotated passwords) are encrypted to ``public_key``."""

    name = models.CharField(max_length=200, unique=True)
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="adapter_client"
    )
    resources = models.ManyToManyField("directory.Resource", related_name="adapter_clients")
    active = models.BooleanField(default=True)
    public_key = models.TextField(
        help_text=_("PEM RSA public key (2048 bits or more) the adapter decrypts secrets with.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_poll_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the adapter last pulled (adapter health, 'test connection')."),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class NativeIdentifier(models.Model):
    """The application's own identifier of an account or entitlement (a DN, a numeric id),
    as an adapter reported it; handed back with every later entry about the object."""

    resource = models.ForeignKey("directory.Resource", on_delete=models.CASCADE, related_name="+")
    account = models.OneToOneField(
        "directory.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="native_identifier"
    )
    entitlement = models.OneToOneField(
        "directory.Entitlement",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="native_identifier",
    )
    value = models.CharField(max_length=1000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(account__isnull=False, entitlement__isnull=True)
                | Q(account__isnull=True, entitlement__isnull=False),
                name="native_identifier_one_object",
            )
        ]

    def __str__(self) -> str:
        return self.value


class ResourceRetryPolicy(models.Model):
    """How often Blazon hands an entry of one resource back to its adapter after transient
    failures, and how long it waits between tries; empty fields use the defaults
    (``BLAZON_ADAPTER_MAX_TRANSIENT_FAILURES``, 30 s doubling up to one hour)."""

    resource = models.OneToOneField(
        "directory.Resource", on_delete=models.CASCADE, related_name="retry_policy"
    )
    max_transient_failures = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Transient failures before the entry goes to manual resolution.")
    )
    backoff_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("First delay after a transient failure (doubles each time).")
    )
    backoff_max_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Longest delay between two tries.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_transient_failures__isnull=True) | Q(max_transient_failures__gte=1),
                name="retry_policy_max_failures_positive",
            ),
            models.CheckConstraint(
                condition=Q(backoff_seconds__isnull=True) | Q(backoff_seconds__gte=1),
                name="retry_policy_backoff_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"retry policy of resource {self.resource_id}"


class AdapterCredential(models.Model):
    """A credential an adapter created in an application (an account's initial password, a new
    secret of an application account), stored in the vault through the adapter API. One row
    per entry, account, kind and name, so an upload the adapter retries is recognised."""

    entry = models.ForeignKey(ProvisioningEntry, on_delete=models.CASCADE, related_name="credentials")
    account = models.ForeignKey("directory.Account", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30)
    name = models.CharField(max_length=200)
    secret = models.ForeignKey(
        "vault.Secret", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client = models.ForeignKey(
        AdapterClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entry", "account", "kind", "name"], name="adapter_credential_once_per_entry"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r} of account {self.account_id} (entry {self.entry_id})"


class ConnectorType(models.TextChoices):
    CSV = "csv", _("CSV file")
    LDAP = "ldap", _("LDAP / Active Directory")
    SQL = "sql", _("SQL table (PostgreSQL)")
    REST = "rest", _("Generic REST")


class InProcessAdapter(models.Model):
    """The adapter the embedded runner (``run_adapters``) executes one resource's AUTOMATIC
    entries with, inside Blazon: the same runtime and connectors as the adapter process. Its
    client is an ordinary ``AdapterClient`` (scope, leases, health); the connector's secret
    settings and the client's private key live in the vault (``secret``), never here."""

    resource = models.OneToOneField(
        "directory.Resource", on_delete=models.CASCADE, related_name="inprocess_adapter"
    )
    client = models.OneToOneField(AdapterClient, on_delete=models.PROTECT, related_name="inprocess")
    connector_type = models.CharField(max_length=10, choices=ConnectorType.choices)
    settings = models.JSONField(
        default=dict, blank=True, help_text=_("The connector's settings, without secrets.")
    )
    secret_keys = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Names of the secret settings held in the vault (never their values)."),
    )
    secret = models.ForeignKey(
        "vault.Secret",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Vault secret: the private key and the secret settings (JSON)."),
    )
    initial_passwords = models.BooleanField(
        default=False,
        help_text=_("A CREATE_ACCOUNT without a password gets a generated one, stored in the vault."),
    )
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"in-process {self.connector_type} adapter of resource {self.resource_id}"
