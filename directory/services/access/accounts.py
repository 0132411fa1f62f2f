"""Accounts created, changed and removed by hand (seed 002 "Contas")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, ValidationFailed
from directory import ports
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    AttributeDefinition,
    AttributeScope,
    Management,
    ProvisioningEvent,
    Resource,
    User,
    UserStatus,
)
from directory.services.users.attributes import attribute_values_validate


@transaction.atomic
def account_create(
    *,
    actor: User | None,
    source: str,
    resource: Resource,
    owner: User | None = None,
    identifier: str | None = None,
    account_type: str = AccountType.REGULAR,
    is_temporary: bool = False,
    expires_at: datetime | None = None,
    responsible: User | None = None,
    attributes: dict[str, Any] | None = None,
) -> Account:
    """Create a manually managed account on ``resource`` (orphan when ``owner`` is None)."""
    errors: dict[str, list[str]] = {}
    if account_type not in AccountType.values:
        errors["account_type"] = [
            gettext("Unknown account type %(account_type)r.") % {"account_type": account_type}
        ]
    identifier = (identifier or (owner.username if owner else "")).strip()
    if not identifier:
        errors["identifier"] = [gettext("An identifier is required for an account without owner.")]
    if owner is not None and owner.status not in (UserStatus.ACTIVE, UserStatus.INACTIVE):
        errors["owner"] = [
            gettext("User %(username)s is %(status)s: no new accounts.")
            % {"username": owner.username, "status": owner.status}
        ]
    if is_temporary and not expires_at:
        errors["expires_at"] = [gettext("A temporary account needs an expiry date.")]
    if expires_at and expires_at <= timezone.now():
        errors["expires_at"] = [gettext("The expiry date must be in the future.")]
    if account_type in (AccountType.APPLICATION, AccountType.SHARED, AccountType.ADMINISTRATIVE) and owner:
        errors["owner"] = [gettext("Non-nominal accounts have a responsible user, not an owner.")]
    if account_type == AccountType.REGULAR and responsible:
        errors["responsible"] = [gettext("Regular accounts have an owner, not a responsible user.")]
    if errors:
        raise ValidationFailed(
            "The account cannot be created: " + " ".join(sum(errors.values(), [])), fields=errors
        )
    if (
        owner
        and account_type == AccountType.REGULAR
        and Account.objects.filter(owner=owner, resource=resource, account_type=AccountType.REGULAR).exists()
    ):
        raise Conflict(
            gettext("%(username)s already has a regular account on %(name)s; a user has one per resource.")
            % {"username": owner.username, "name": resource.name},
            fields={"owner": [gettext("Already has a regular account on this resource.")]},
        )
    if Account.objects.filter(resource=resource, identifier=identifier).exists():
        raise Conflict(
            gettext("Identifier %(identifier)r is already used on %(name)s.")
            % {"identifier": identifier, "name": resource.name},
            fields={"identifier": [gettext("Already used on this resource.")]},
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            account = Account.objects.create(
                resource=resource,
                owner=owner,
                identifier=identifier,
                account_type=account_type,
                status=AccountStatus.ACTIVE
                if owner is None or owner.status == UserStatus.ACTIVE
                else AccountStatus.INACTIVE,
                management=Management.MANUAL,
                manual=True,
                is_temporary=is_temporary,
                expires_at=expires_at,
                responsible=responsible,
                attributes=attributes or {},
                status_changed_at=now,
            )
    except IntegrityError as exc:  # a concurrent creation won the race
        raise Conflict(gettext("The account already exists (created concurrently).")) from exc
    audit_record(
        actor=actor,
        action="account.created",
        obj=account,
        new={
            "resource": resource.code,
            "identifier": identifier,
            "type": account_type,
            "owner": owner.username if owner else None,
            "temporary": is_temporary,
            "expires_at": expires_at,
        },
        source=source,
        subject_user_id=owner.pk if owner else None,
    )
    ports.provisioning().entry_write(
        resource=resource,
        event_type=ProvisioningEvent.CREATE_ACCOUNT,
        account_id=account.pk,
        user_id=owner.pk if owner else None,
        payload={"reason": "manual"},
    )
    return account


# Attribute values an account may carry without definitions: JSON scalars (the request layer
# refuses secret-looking keys before anything reaches here).
_ACCOUNT_ATTRIBUTE_SCALARS = (str, int, float, bool)


def account_attribute_changes_check(attributes: dict[str, Any]) -> dict[str, list[str]]:
    """The problems ``account_update`` finds in the shape of ``attributes`` before reading the
    database (names are non-empty text, values scalars or null); no query."""
    errors: dict[str, list[str]] = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not name.strip():
            errors["attributes"] = [gettext("Attribute names must be non-empty text.")]
        elif value is not None and not isinstance(value, _ACCOUNT_ATTRIBUTE_SCALARS):
            errors[f"attributes.{name}"] = [
                gettext("A value must be text, a number, true/false, or null to remove it.")
            ]
    return errors


@transaction.atomic
def account_update(
    *, actor: User | None, source: str, account: Account, attributes: dict[str, Any]
) -> Account:
    """Change some of an account's attributes (seed 002, "Atualiza conta"): the given keys are
    set, a key given as ``None`` is removed, the others stay. Validated against the resource's
    account attribute definitions when it has any; one UPDATE_ACCOUNT provisioning entry with
    the changed values. A revoked account cannot change."""
    if not isinstance(attributes, dict) or not attributes:
        raise ValidationFailed(
            gettext("Give the account attributes to change (an object of names and values)."),
            fields={"attributes": [gettext("Expected a non-empty object.")]},
        )
    acc = Account.objects.select_for_update(of=("self",)).select_related("resource").get(pk=account.pk)
    if acc.status == AccountStatus.REVOKED:
        raise Conflict(
            gettext("Account %(acc)s is revoked: its attributes cannot change.") % {"acc": acc},
            fields={"account": [gettext("Revoked.")]},
        )
    errors = account_attribute_changes_check(attributes)
    if errors:
        raise ValidationFailed(
            "The account cannot be updated: " + " ".join(sum(errors.values(), [])), fields=errors
        )
    previous = dict(acc.attributes or {})
    merged = {k: v for k, v in {**previous, **attributes}.items() if v is not None}
    defined = set(
        AttributeDefinition.objects.filter(scope=AttributeScope.ACCOUNT, resource=acc.resource).values_list(
            "name", flat=True
        )
    )
    if defined:
        checked = {k: v for k, v in merged.items() if k in defined or k in attributes}
        clean = attribute_values_validate(
            scope=AttributeScope.ACCOUNT, values=checked, resource=acc.resource, instance_pk=acc.pk
        )
        merged = {**{k: v for k, v in merged.items() if k not in checked}, **clean}
    changed = sorted(k for k in set(previous) | set(merged) if previous.get(k) != merged.get(k))
    if not changed:
        return acc
    acc.attributes = merged
    acc.save(update_fields=["attributes", "updated_at"])
    entry = ports.provisioning().entry_write(
        resource=acc.resource,
        event_type=ProvisioningEvent.UPDATE_ACCOUNT,
        account_id=acc.pk,
        user_id=acc.owner_id,
        payload={
            "reason": "manual",
            "identifier": acc.identifier,
            "attributes": {k: merged.get(k) for k in changed},
        },
    )
    audit_record(
        actor=actor,
        action="account.updated",
        obj=acc,
        old={"attributes": {k: previous.get(k) for k in changed}},
        new={
            "attributes": {k: merged.get(k) for k in changed},
            "provisioning_entry": entry.pk if entry else None,
        },
        source=source,
        subject_user_id=acc.owner_id,
    )
    account.attributes = acc.attributes
    return acc


@transaction.atomic
def account_remove(*, actor: User | None, source: str, account: Account) -> None:
    """Delete an account the application never received (the rollback of a new account whose
    provisioning failed): its entries still waiting are canceled, its memberships, vault secrets
    and check-outs go with it, and no REVOKE_ACCOUNT entry is written. An account any entry of
    which was pulled or delivered may exist in the application: it is refused (revoke it)."""
    acc = (
        Account.objects.select_for_update(of=("self",))
        .select_related("resource", "owner")
        .filter(pk=account.pk)
        .first()
    )
    if acc is None:
        return
    if acc.role_grants.exists():
        raise Conflict(
            gettext("Account %(acc)s is kept by a role: the role decides, it cannot be removed.")
            % {"acc": acc},
            code="role_managed",
        )
    delivered = ports.provisioning().entries_delivered_for_account(account_id=acc.pk)
    if delivered:
        raise Conflict(
            ngettext(
                "Account %(acc)s may exist in %(name)s (%(delivered)s provisioning entry pulled or delivered): "
                "revoke it instead of removing it.",
                "Account %(acc)s may exist in %(name)s (%(delivered)s provisioning entries pulled or delivered): "
                "revoke it instead of removing it.",
                delivered,
            )
            % {
                "acc": acc,
                "name": acc.resource.name,
                "delivered": delivered,
            },
            code="provisioned",
        )
    canceled = ports.provisioning().entries_cancel_pending_for_account(account_id=acc.pk)
    memberships = list(acc.memberships.values_list("entitlement__identifier", flat=True))
    audit_record(
        actor=actor,
        action="account.removed",
        obj=acc,
        old={
            "resource": acc.resource.code,
            "identifier": acc.identifier,
            "type": acc.account_type,
            "status": acc.status,
            "owner": acc.owner.username if acc.owner is not None else None,
            "entitlements": sorted(memberships),
        },
        new={"canceled_provisioning_entries": canceled},
        source=source,
        subject_user_id=acc.owner_id,
    )
    acc.delete()
