"""What resource adapters do with entries: register a client, pull a batch under a lease,
extend the lease, report success or failure (seed 002, "Provisionamento automático").

* **Scope**: a client only ever sees entries of the resources it is bound to; any other entry
  is "not found" for it (404), whether it exists or not.
* **Pull**: one set-based query picks the oldest AUTOMATIC entries that are PENDING (past any
  retry delay) or PULLED with an expired lease, and that no earlier open entry of the same
  object precedes (per-object order: a grant never runs before its account exists). On
  PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``: concurrent pullers (several
  adapter replicas) never get the same entry. They become PULLED with ``lease_until`` and
  ``lease_owner``. An expired lease needs no sweeper: the pull query takes such entries back.
* **Reports** are idempotent: the same outcome reported again by the same client changes
  nothing; a report on an entry leased by another client, or finished otherwise, is a 409.
* A transient failure puts the entry back in the pool after a back-off (the adapter's own
  retries come first; this is its "try later"); after ``BLAZON_ADAPTER_MAX_TRANSIENT_FAILURES``
  it counts as final. A final failure goes to manual resolution (``services.manual``).

Lock order, as in the request pipeline: the request (if the entry belongs to one), then the entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from oauth2_provider.generators import generate_client_id, generate_client_secret
from oauth2_provider.models import Application

from blazon.audit.services import audit_record
from blazon.errors import Conflict, DomainError, ValidationFailed
from directory.models import ProvisioningMode, Resource, User
from provisioning import crypto
from provisioning.models import (
    ENTITLEMENT_EVENTS,
    OPEN_STATUSES,
    AdapterClient,
    EntryStatus,
    NativeIdentifier,
    ProvisioningEntry,
    ResourceRetryPolicy,
)
from provisioning.services.manual import entry_send_to_manual, native_identifier_remember, requests_lock_of
from provisioning.signals import entries_settle, requests_settled
from vault import crypto as vault_crypto
from vault.models import Secret
from vault.services import secret_reveal

logger = logging.getLogger("blazon.provisioning")

SOURCE = "adapter"
MAX_BATCH = 500
#: The shortest lease the API schema allows; the effective minimum is the setting
#: ``BLAZON_ADAPTER_MIN_LEASE_SECONDS`` (10 s by default; the fault tests lower it to 1 s so a
#: dead adapter's lease runs out in seconds).
LEASE_FLOOR_SECONDS, MAX_LEASE_SECONDS = 1, 3600
MAX_RETRY_AFTER_SECONDS = 24 * 3600
#: Payload keys that reference a secret: delivered encrypted for the adapter, never in clear.
SECRET_REF_KEYS = ("secret_id",)


class EntryNotFound(DomainError):
    code = "not_found"
    status = 404


# --- clients ----------------------------------------------------------------------------------


@transaction.atomic
def adapter_client_register(
    *, actor: Any, source: str, name: str, resources: list[Resource], public_key: str
) -> tuple[AdapterClient, str, str]:
    """Register a resource adapter: an OAuth2 confidential application (client credentials)
    bound to ``resources``. Returns the client, its client id and its secret (shown once:
    only its hash is stored)."""
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [gettext("A name is required.")]
    elif AdapterClient.objects.filter(name=name).exists():
        errors["name"] = [gettext("An adapter client named %(name)r already exists.") % {"name": name}]
    if not resources:
        errors["resources"] = [gettext("Bind the client to at least one resource.")]
    if errors:
        raise ValidationFailed(gettext("The adapter client is not valid."), fields=errors)
    crypto.public_key_load(public_key)
    client_id, raw_secret = generate_client_id(), generate_client_secret()
    application = Application.objects.create(
        name=f"adapter:{name}"[:255],
        client_id=client_id,
        client_secret=raw_secret,  # hashed by django-oauth-toolkit on save
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
    client = AdapterClient.objects.create(name=name, application=application, public_key=public_key.strip())
    client.resources.set(resources)
    audit_record(
        actor=actor,
        action="adapter_client.registered",
        obj=client,
        new={
            "client_id": client_id,
            "resources": sorted(r.code for r in resources),
            "key_id": crypto.key_id(public_key),
        },
        source=source,
    )
    return client, client_id, raw_secret


def adapter_client_for_application(application_id: int | None) -> AdapterClient | None:
    """The active adapter client of an OAuth2 application (None when it is not an adapter)."""
    if application_id is None:
        return None
    return AdapterClient.objects.filter(application_id=application_id, active=True).first()


# --- pull -------------------------------------------------------------------------------------


def _open_before(**match: Any) -> Exists:
    """An earlier open entry of the same resource matching ``match`` (outer-ref'd fields)."""
    return Exists(
        ProvisioningEntry.objects.filter(
            resource_id=OuterRef("resource_id"), pk__lt=OuterRef("pk"), status__in=OPEN_STATUSES, **match
        )
    )


def pullable_entries(*, client: AdapterClient, now: datetime) -> QuerySet[ProvisioningEntry]:
    """The entries ``client`` may be handed now, oldest first (a queryset; nothing locked).

    Per-object order: an entry waits while an earlier entry of the same resource is open
    (pending, pulled or waiting for manual resolution) for the same account; a membership
    event also waits for an earlier create/update/remove of its entitlement, and an
    entitlement event for any earlier entry of that entitlement."""
    free = Q(status=EntryStatus.PENDING) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    expired = Q(status=EntryStatus.PULLED, lease_until__lt=now)
    return (
        ProvisioningEntry.objects.filter(
            resource_id__in=client.resources.values("pk"), mode=ProvisioningMode.AUTOMATIC
        )
        .filter(free | expired)
        .filter(~_open_before(account_id=OuterRef("account_id")))
        .filter(~_open_before(entitlement_id=OuterRef("entitlement_id"), event_type__in=ENTITLEMENT_EVENTS))
        .exclude(
            Q(event_type__in=ENTITLEMENT_EVENTS) & _open_before(entitlement_id=OuterRef("entitlement_id"))
        )
        .order_by("pk")
    )


@dataclass
class Batch:
    entries: list[ProvisioningEntry]
    lease_until: datetime
    users: dict[int, User]
    secrets: dict[int, dict[str, Any]]


def min_lease_seconds() -> int:
    """The shortest lease an adapter may ask for (``BLAZON_ADAPTER_MIN_LEASE_SECONDS``)."""
    return max(int(settings.BLAZON_ADAPTER_MIN_LEASE_SECONDS), LEASE_FLOOR_SECONDS)


def _lease_seconds(value: int | None) -> int:
    seconds = settings.BLAZON_ADAPTER_LEASE_SECONDS if value is None else value
    low = min_lease_seconds()
    if not isinstance(seconds, int) or not low <= seconds <= MAX_LEASE_SECONDS:
        raise ValidationFailed(
            gettext("lease_seconds must be a whole number from %(low)s to %(MAX_LEASE_SECONDS)s.")
            % {"low": low, "MAX_LEASE_SECONDS": MAX_LEASE_SECONDS},
            fields={
                "lease_seconds": [
                    gettext("From %(low)s to %(MAX_LEASE_SECONDS)s.")
                    % {"low": low, "MAX_LEASE_SECONDS": MAX_LEASE_SECONDS}
                ]
            },
        )
    return seconds


@transaction.atomic
def entries_pull(*, client: AdapterClient, limit: int = 50, lease_seconds: int | None = None) -> Batch:
    """Lease up to ``limit`` entries to ``client`` (PENDING → PULLED, ``lease_until``,
    ``lease_owner``). Safe with any number of concurrent pullers."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_BATCH:
        raise ValidationFailed(
            gettext("limit must be a whole number from 1 to %(MAX_BATCH)s.") % {"MAX_BATCH": MAX_BATCH},
            fields={"limit": [gettext("From 1 to %(MAX_BATCH)s.") % {"MAX_BATCH": MAX_BATCH}]},
        )
    seconds = _lease_seconds(lease_seconds)
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    # adapter health: when it last polled; replicas sharing a client write it at most once a
    # second, so they do not queue on the client's row
    AdapterClient.objects.filter(pk=client.pk).filter(
        Q(last_poll_at__isnull=True) | Q(last_poll_at__lt=now - timedelta(seconds=1))
    ).update(last_poll_at=now)
    ids = list(
        pullable_entries(client=client, now=now)
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)[:limit]
    )
    if ids:
        ProvisioningEntry.objects.filter(pk__in=ids).update(
            status=EntryStatus.PULLED,
            lease_owner=client,
            lease_until=until,
            pulled_at=now,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        audit_record(
            actor=None,
            action="provisioning.entries_pulled",
            obj=client,
            new={"adapter": client.name, "entries": ids, "lease_until": until},
            source=SOURCE,
        )
    entries = list(
        ProvisioningEntry.objects.filter(pk__in=ids)
        .select_related("resource", "account__native_identifier", "entitlement__native_identifier")
        .order_by("pk")
    )
    user_ids = {e.user_id_ref for e in entries if e.user_id_ref} | {
        e.account.owner_id for e in entries if e.account is not None and e.account.owner_id
    }
    users = {u.pk: u for u in User.objects.filter(pk__in=user_ids)} if user_ids else {}
    secrets = {e.pk: _seal_secret(e, client) for e in entries if _secret_ref(e)}
    return Batch(entries=entries, lease_until=until, users=users, secrets=secrets)


def _secret_ref(entry: ProvisioningEntry) -> str | None:
    payload = entry.payload or {}
    return next((str(payload[k]) for k in SECRET_REF_KEYS if payload.get(k)), None)


def _seal_secret(entry: ProvisioningEntry, client: AdapterClient) -> dict[str, Any]:
    """The entry's secret sealed to the client's key, or why it cannot be delivered."""

    ref = _secret_ref(entry)
    secret = Secret.objects.filter(pk=ref).first() if ref else None
    if secret is None:
        return {"error": "The secret this entry refers to is no longer in the vault."}
    try:
        value = secret_reveal(actor=None, source=SOURCE, secret=secret)
    except vault_crypto.VaultError:
        # logged by the vault (without the value); the adapter reports the entry as failed
        return {"error": "The vault could not decrypt the secret this entry refers to."}
    return crypto.seal_for_adapter(value, public_key_pem=client.public_key, entry_id=entry.pk)


# --- lease and reports ------------------------------------------------------------------------


def _lock_entry(client: AdapterClient, entry_id: int) -> ProvisioningEntry:
    entry = (
        ProvisioningEntry.objects.select_for_update(of=("self",))
        .select_related("resource")
        .filter(pk=entry_id, resource_id__in=client.resources.values("pk"))
        .first()
    )
    if entry is None:
        raise EntryNotFound(f"No provisioning entry #{entry_id} for adapter {client.name}.")
    return entry


def _lock(client: AdapterClient, entry_id: int) -> ProvisioningEntry:
    requests_lock_of([entry_id], resource_id__in=client.resources.values("pk"))
    return _lock_entry(client, entry_id)


def _check_leased_to(entry: ProvisioningEntry, client: AdapterClient) -> None:
    if entry.status != EntryStatus.PULLED:
        raise Conflict(
            gettext("Provisioning entry #%(pk)s is %(status)s: it is not leased to you, nothing to report.")
            % {"pk": entry.pk, "status": entry.status},
            code="entry_not_leased",
        )
    if entry.lease_owner_id != client.pk:
        raise Conflict(
            gettext(
                "Provisioning entry #%(pk)s is leased to another adapter (your lease expired and it was pulled again): drop it."
            )
            % {"pk": entry.pk},
            code="leased_by_other",
        )


@transaction.atomic
def entry_lease_extend(
    *, client: AdapterClient, entry_id: int, lease_seconds: int | None = None
) -> ProvisioningEntry:
    """Acknowledge a pulled entry and extend its lease (from now). Still possible after the
    lease expired, as long as no other adapter pulled the entry since."""
    seconds = _lease_seconds(lease_seconds)
    entry = _lock_entry(client, entry_id)
    _check_leased_to(entry, client)
    now = timezone.now()
    entry.lease_until, entry.updated_at = now + timedelta(seconds=seconds), now
    entry.save(update_fields=["lease_until", "updated_at"])
    return entry


def _clean_attributes(attributes: Any) -> dict[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict) or not all(isinstance(k, str) and k for k in attributes):
        raise ValidationFailed(
            gettext("attributes must be an object of names and values."),
            fields={"attributes": [gettext("Expected an object.")]},
        )
    return attributes


@transaction.atomic
def entry_report_success(
    *,
    client: AdapterClient,
    entry_id: int,
    native_identifier: str = "",
    attributes: dict[str, Any] | None = None,
    detail: str = "",
) -> ProvisioningEntry:
    """The application made the change: the entry SUCCEEDED, with what the application answered
    (its identifier of the account or entitlement, attributes). When every entry of a request
    has succeeded the request finishes."""
    attributes = _clean_attributes(attributes)
    native_identifier = (native_identifier or "").strip()
    if len(native_identifier) > (NativeIdentifier._meta.get_field("value").max_length or 1000):
        raise ValidationFailed(
            gettext("native_identifier is too long (1000 characters at most)."),
            fields={"native_identifier": [gettext("1000 characters at most.")]},
        )
    entry = _lock(client, entry_id)
    if entry.status == EntryStatus.SUCCEEDED and entry.lease_owner_id == client.pk:
        return entry  # reported twice: the first report decided
    _check_leased_to(entry, client)
    now = timezone.now()
    entry.status = EntryStatus.SUCCEEDED
    entry.result = {"native_identifier": native_identifier, "attributes": attributes, "detail": detail}
    entry.lease_until, entry.finished_at, entry.updated_at = None, now, now
    entry.save(update_fields=["status", "result", "lease_until", "finished_at", "updated_at"])
    native_identifier_remember(entry, native_identifier)
    audit_record(
        actor=None,
        action="provisioning.entry_succeeded",
        obj=entry,
        old={"status": EntryStatus.PULLED},
        new={"status": entry.status, "adapter": client.name, **entry.result},
        source=SOURCE,
        subject_user_id=entry.user_id_ref,
    )
    requests_settled([entry.request_id])
    entries_settle([entry])
    return entry


def _retry_delay(failures: int, retry_after: int | None, policy: ResourceRetryPolicy | None = None) -> int:
    if retry_after is not None:
        return retry_after
    base: int = (policy.backoff_seconds if policy else None) or 30
    cap: int = (policy.backoff_max_seconds if policy else None) or 3600
    return min(base * (1 << min(max(failures - 1, 0), 30)), max(cap, base))


@transaction.atomic
def entry_report_failure(
    *,
    client: AdapterClient,
    entry_id: int,
    reason: str,
    final: bool = False,
    retry_after_seconds: int | None = None,
) -> ProvisioningEntry:
    """The adapter could not make the change. Transient: back to the pool after a delay (final
    once the entry failed transiently too often). Final: WAITING_FAILOVER_RESOLVING and a
    manual provisioning task for the resource owners."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            gettext("A failure needs a reason."), fields={"reason": [gettext("Required.")]}
        )
    if retry_after_seconds is not None and not (
        isinstance(retry_after_seconds, int) and 0 <= retry_after_seconds <= MAX_RETRY_AFTER_SECONDS
    ):
        raise ValidationFailed(
            gettext("retry_after_seconds must be from 0 to %(MAX_RETRY_AFTER_SECONDS)s.")
            % {"MAX_RETRY_AFTER_SECONDS": MAX_RETRY_AFTER_SECONDS},
            fields={
                "retry_after_seconds": [
                    gettext("From 0 to %(MAX_RETRY_AFTER_SECONDS)s.")
                    % {"MAX_RETRY_AFTER_SECONDS": MAX_RETRY_AFTER_SECONDS}
                ]
            },
        )
    entry = _lock(client, entry_id)
    if entry.lease_owner_id == client.pk and entry.last_error == reason:
        # reported twice: the first report decided
        if final and entry.status in (EntryStatus.WAITING_FAILOVER_RESOLVING, EntryStatus.FAILED):
            return entry
        if not final and entry.status == EntryStatus.PENDING:
            return entry
    _check_leased_to(entry, client)
    now = timezone.now()
    entry.transient_failures += 0 if final else 1
    policy = ResourceRetryPolicy.objects.filter(resource_id=entry.resource_id).first()
    limit = (
        policy.max_transient_failures if policy else None
    ) or settings.BLAZON_ADAPTER_MAX_TRANSIENT_FAILURES
    too_many = entry.transient_failures >= limit
    entry.last_error = reason
    entry.lease_until, entry.updated_at = None, now
    if final or too_many:
        entry.status = EntryStatus.WAITING_FAILOVER_RESOLVING
        fields = ["status", "last_error", "lease_until", "updated_at", "transient_failures"]
        entry.save(update_fields=fields)
        audit_record(
            actor=None,
            action="provisioning.entry_failed",
            obj=entry,
            old={"status": EntryStatus.PULLED},
            new={
                "status": entry.status,
                "adapter": client.name,
                "reason": reason,
                "final": True,
                "transient_failures": entry.transient_failures,
            },
            source=SOURCE,
            subject_user_id=entry.user_id_ref,
        )
        entry_send_to_manual(entry=entry, why=reason if final else f"{reason} (gave up after retries)")
        return entry
    entry.status = EntryStatus.PENDING
    entry.not_before = now + timedelta(
        seconds=_retry_delay(entry.transient_failures, retry_after_seconds, policy)
    )
    entry.save(
        update_fields=[
            "status",
            "last_error",
            "lease_until",
            "updated_at",
            "transient_failures",
            "not_before",
        ]
    )
    audit_record(
        actor=None,
        action="provisioning.entry_retry",
        obj=entry,
        old={"status": EntryStatus.PULLED},
        new={
            "status": entry.status,
            "adapter": client.name,
            "reason": reason,
            "transient_failures": entry.transient_failures,
            "not_before": entry.not_before,
        },
        source=SOURCE,
        subject_user_id=entry.user_id_ref,
    )
    return entry
