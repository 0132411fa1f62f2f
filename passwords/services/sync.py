"""Password synchronisation (issue #4 §6): when a user's password changes in Blazon, each of
their REGULAR accounts on a resource set to synchronise passwords, whose CHANGE_PASSWORD mode
is not DISABLED, gets a CHANGE_PASSWORD provisioning entry.

The new password goes to the vault once per user (an application credential owned by the user,
replaced at each change) and the entries carry only its id (``payload.secret_id``), like a
rotated administrative password: the adapter API seals it to the adapter's key when an entry is
pulled, and a MANUAL entry's task lets its assignee reveal it. A still-pending older entry
therefore delivers the newest password, which is what the application should end up with."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from blazon.audit.services import audit_record
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    ProvisioningEvent,
    ProvisioningMode,
    Resource,
)
from passwords.models import ResourcePasswordSync
from provisioning.services import entries_write_mixed
from vault.models import Secret, SecretKind
from vault.services import secret_store, secret_update

#: The vault secret (kind APPLICATION_CREDENTIAL, owner = the user) holding the synchronised password.
SYNC_SECRET_NAME = "password-sync"


def _sync_secret(*, user: Any, password: str, actor: Any, source: str) -> Any:
    secret = Secret.objects.filter(
        kind=SecretKind.APPLICATION_CREDENTIAL, owner_id=user.pk, name=SYNC_SECRET_NAME
    ).first()
    if secret is None:
        return secret_store(
            actor=actor,
            source=source,
            owner=user,
            kind=SecretKind.APPLICATION_CREDENTIAL,
            name=SYNC_SECRET_NAME,
            value=password,
        )
    return secret_update(actor=actor, source=source, secret=secret, value=password)


def synchronised_accounts(user: Any) -> Any:
    """The accounts a password change of ``user`` reaches (one query)."""
    event = ProvisioningEvent.CHANGE_PASSWORD
    return (
        Account.objects.filter(
            owner_id=user.pk,
            account_type=AccountType.REGULAR,
            resource__password_sync__enabled=True,
            **{
                f"resource__provisioning_modes__{event}__in": [
                    ProvisioningMode.AUTOMATIC,
                    ProvisioningMode.MANUAL,
                ]
            },
        )
        .exclude(status=AccountStatus.REVOKED)
        .select_related("resource")
        .order_by("resource_id")
    )


@transaction.atomic
def password_sync_emit(*, user: Any, password: str, actor: Any, source: str) -> int:
    """Write the CHANGE_PASSWORD entries for ``user``'s new ``password``; returns how many."""

    accounts = list(synchronised_accounts(user))
    if not accounts:
        return 0
    secret = _sync_secret(user=user, password=password, actor=actor, source=source)
    return entries_write_mixed(
        {
            "resource": account.resource,
            "event_type": ProvisioningEvent.CHANGE_PASSWORD,
            "account_id": account.pk,
            "entitlement_id": None,
            "user_id": user.pk,
            "payload": {
                "reason": "password_sync",
                "identifier": account.identifier,
                "secret_id": str(secret.pk),
            },
        }
        for account in accounts
    )


@transaction.atomic
def resource_sync_set(*, actor: Any, source: str, resource: Resource, enabled: bool) -> ResourcePasswordSync:
    """Set whether ``resource`` receives its users' new passwords."""
    setting, _ = ResourcePasswordSync.objects.select_for_update().get_or_create(resource=resource)
    if setting.enabled == bool(enabled):
        return setting
    setting.enabled = bool(enabled)
    setting.save(update_fields=["enabled", "updated_at"])
    audit_record(
        actor=actor,
        action="resource.password_sync_set",
        obj=resource,
        old={"synchronise": not setting.enabled},
        new={"synchronise": setting.enabled},
        source=source,
    )
    return setting
