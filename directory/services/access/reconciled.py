"""Accounts as reconciliation finds them in an application (seed 002, "Reconciliação de contas"):
the account already exists there, so recording it, giving it an owner, taking the owner away or
copying its attributes changes only the directory and writes no provisioning entry (nothing to
tell the application). Revoking one is ``lifecycle.account_revoke`` with source
``reconciliation``: that one does tell the application."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, ValidationFailed
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    Entitlement,
    Management,
    Resource,
    User,
    UserStatus,
)


@transaction.atomic
def account_register_found(
    *,
    actor: User | None,
    source: str,
    resource: Resource,
    identifier: str,
    owner: User | None = None,
    attributes: dict[str, Any] | None = None,
    enabled: bool = True,
) -> Account:
    """Record in the directory an account the application already has (an orphan when ``owner``
    is None). No CREATE_ACCOUNT entry: the account exists."""
    identifier = (identifier or "").strip()
    if not identifier:
        raise ValidationFailed(
            gettext("The account has no identifier."), fields={"identifier": [gettext("Required.")]}
        )
    if owner is not None and owner.status not in (UserStatus.ACTIVE, UserStatus.INACTIVE):
        raise Conflict(
            gettext("User %(username)s is %(status)s: the account cannot be linked to them.")
            % {"username": owner.username, "status": owner.status}
        )
    if (
        owner is not None
        and Account.objects.filter(owner=owner, resource=resource, account_type=AccountType.REGULAR).exists()
    ):
        raise Conflict(
            gettext("%(username)s already has a regular account on %(name)s.")
            % {"username": owner.username, "name": resource.name}
        )
    active = enabled and (owner is None or owner.status == UserStatus.ACTIVE)
    try:
        with transaction.atomic():
            account = Account.objects.create(
                resource=resource,
                owner=owner,
                identifier=identifier,
                account_type=AccountType.REGULAR,
                status=AccountStatus.ACTIVE if active else AccountStatus.INACTIVE,
                management=Management.MANUAL,
                manual=True,
                attributes=attributes or {},
                status_changed_at=timezone.now(),
            )
    except IntegrityError:
        raise Conflict(
            gettext("Identifier %(identifier)r is already used on %(name)s.")
            % {"identifier": identifier, "name": resource.name}
        ) from None
    audit_record(
        actor=actor,
        action="account.reconciled",
        obj=account,
        new={
            "resource": resource.code,
            "identifier": identifier,
            "owner": owner.username if owner else None,
            "status": account.status,
        },
        source=source,
        subject_user_id=owner.pk if owner else None,
    )
    return account


@transaction.atomic
def account_owner_set(*, actor: User | None, source: str, account: Account, owner: User | None) -> Account:
    """Give a regular account found in the application its owner (``None``: make it an orphan)."""
    acc = (
        Account.objects.select_for_update(of=("self",)).select_related("resource", "owner").get(pk=account.pk)
    )
    if acc.owner_id == (owner.pk if owner else None):
        return acc
    if acc.status == AccountStatus.REVOKED:
        raise Conflict(gettext("Account %(acc)s is revoked: its owner cannot change.") % {"acc": acc})
    if acc.account_type != AccountType.REGULAR:
        raise Conflict(
            gettext("Account %(acc)s is %(account_type)s: it has a responsible, not an owner.")
            % {"acc": acc, "account_type": acc.get_account_type_display()}
        )
    if owner is not None:
        if owner.status not in (UserStatus.ACTIVE, UserStatus.INACTIVE):
            raise Conflict(
                gettext("User %(username)s is %(status)s: the account cannot be linked to them.")
                % {"username": owner.username, "status": owner.status}
            )
        if (
            Account.objects.filter(owner=owner, resource=acc.resource, account_type=AccountType.REGULAR)
            .exclude(pk=acc.pk)
            .exists()
        ):
            raise Conflict(
                gettext("%(username)s already has a regular account on %(name)s.")
                % {"username": owner.username, "name": acc.resource.name}
            )
    before = acc.owner.username if acc.owner else None
    acc.owner = owner
    acc.save(update_fields=["owner", "updated_at"])
    audit_record(
        actor=actor,
        action="account.owner_linked" if owner else "account.owner_unlinked",
        obj=acc,
        old={"owner": before},
        new={"owner": owner.username if owner else None},
        source=source,
        subject_user_id=owner.pk if owner else account.owner_id,
    )
    return acc


@transaction.atomic
def account_attributes_reconcile(
    *, actor: User | None, source: str, account: Account, attributes: dict[str, Any]
) -> Account:
    """Copy the application's values of some attributes into the directory (attribute drift);
    the others stay. Nothing is provisioned: the application already holds these values."""
    acc = Account.objects.select_for_update(of=("self",)).get(pk=account.pk)
    previous = dict(acc.attributes or {})
    merged = {**previous, **attributes}
    changed = sorted(k for k in merged if previous.get(k) != merged.get(k))
    if not changed:
        return acc
    acc.attributes = merged
    acc.save(update_fields=["attributes", "updated_at"])
    audit_record(
        actor=actor,
        action="account.reconciled_attributes",
        obj=acc,
        old={"attributes": {k: previous.get(k) for k in changed}},
        new={"attributes": {k: merged.get(k) for k in changed}},
        source=source,
        subject_user_id=acc.owner_id,
    )
    return acc


@transaction.atomic
def entitlement_register_found(
    *,
    actor: User | None,
    source: str,
    resource: Resource,
    identifier: str,
    name: str = "",
    description: str = "",
    attributes: dict[str, Any] | None = None,
) -> Entitlement:
    """Record in the directory an entitlement the application already has (a group, a role of
    the application). No CREATE_ENTITLEMENT entry: it exists."""
    identifier = (identifier or "").strip()
    if not identifier:
        raise ValidationFailed(
            gettext("The entitlement has no identifier."), fields={"identifier": [gettext("Required.")]}
        )
    try:
        with transaction.atomic():
            ent = Entitlement.objects.create(
                resource=resource,
                identifier=identifier[:255],
                name=(name or identifier)[:200],
                description=description or "",
                attributes=attributes or {},
            )
    except IntegrityError:
        raise Conflict(
            gettext("Entitlement %(identifier)r already exists on %(name)s.")
            % {"identifier": identifier, "name": resource.name}
        ) from None
    audit_record(
        actor=actor,
        action="entitlement.reconciled",
        obj=ent,
        new={"resource": resource.code, "identifier": ent.identifier, "name": ent.name},
        source=source,
    )
    return ent


@transaction.atomic
def entitlement_reconcile(
    *, actor: User | None, source: str, entitlement: Entitlement, data: dict[str, Any]
) -> Entitlement:
    """Copy the application's name, description or attribute values of an entitlement into the
    directory (drift); nothing is provisioned."""
    ent = Entitlement.objects.select_for_update().get(pk=entitlement.pk)
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for name in ("name", "description"):
        if name in data and data[name] != getattr(ent, name):
            old[name], new[name] = getattr(ent, name), data[name]
            setattr(ent, name, data[name])
    attributes = data.get("attributes") or {}
    changed = {k: v for k, v in attributes.items() if (ent.attributes or {}).get(k) != v}
    if changed:
        old["attributes"] = {k: (ent.attributes or {}).get(k) for k in changed}
        new["attributes"] = changed
        ent.attributes = {**(ent.attributes or {}), **changed}
    if not new:
        return ent
    if not ent.name:
        raise ValidationFailed(
            gettext("An entitlement needs a name."), fields={"name": [gettext("Required.")]}
        )
    ent.save()
    audit_record(
        actor=actor, action="entitlement.reconciled_update", obj=ent, old=old, new=new, source=source
    )
    return ent
