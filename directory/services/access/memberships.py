"""Entitlements granted to and revoked from an account by hand (seed 002 "Direitos"); the
role-managed ones are the role's to revoke."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, ValidationFailed
from directory import ports
from directory.models import (
    Account,
    AccountStatus,
    Entitlement,
    EntitlementMembership,
    Management,
    ProvisioningEvent,
    Role,
    User,
)


@transaction.atomic
def membership_grant(
    *,
    actor: User | None,
    source: str,
    account: Account,
    entitlement: Entitlement,
    account_locked: bool = False,
) -> EntitlementMembership:
    """Grant ``entitlement`` to ``account`` manually; an existing role-managed membership
    becomes also manually kept. ``account_locked``: the caller read ``account`` in this
    transaction with ``select_for_update`` and its ``resource`` and ``owner`` (the request
    pipeline does), so it is not read and locked a second time."""
    if not account_locked:
        account = (
            Account.objects.select_for_update(of=("self",))
            .select_related("resource", "owner")
            .get(pk=account.pk)
        )
    if entitlement.resource_id != account.resource_id:
        raise ValidationFailed(
            gettext("%(name)s belongs to %(name2)s, not to %(name3)s.")
            % {"name": entitlement.name, "name2": entitlement.resource.name, "name3": account.resource.name},
            fields={"entitlement": [gettext("Belongs to another resource.")]},
        )
    if account.status == AccountStatus.REVOKED:
        raise Conflict(
            gettext("The account is revoked: grant nothing to it."), fields={"account": [gettext("Revoked.")]}
        )
    existing = (
        EntitlementMembership.objects.select_for_update()
        .filter(account=account, entitlement=entitlement)
        .first()
    )
    if existing is not None:
        if existing.manual:
            raise Conflict(
                gettext("%(account)s already holds %(name)s.")
                % {"account": account, "name": entitlement.name},
                fields={"entitlement": [gettext("Already granted.")]},
            )
        existing.manual = True
        existing.save(update_fields=["manual"])
        audit_record(
            actor=actor,
            action="membership.kept_manually",
            obj=existing,
            object_repr=f"{entitlement} ∈ {account}",
            new={"manual": True},
            source=source,
            subject_user_id=account.owner_id,
        )
        return existing
    membership = EntitlementMembership.objects.create(
        account=account, entitlement=entitlement, management=Management.MANUAL, manual=True
    )
    audit_record(
        actor=actor,
        action="membership.granted",
        obj=membership,
        object_repr=f"{entitlement} ∈ {account}",
        new={"account": str(account), "entitlement": entitlement.identifier},
        source=source,
        subject_user_id=account.owner_id,
    )
    ports.provisioning().entry_write(
        resource=account.resource,
        event_type=ProvisioningEvent.GRANT_ENTITLEMENT,
        account_id=account.pk,
        entitlement_id=entitlement.pk,
        user_id=account.owner_id,
        payload={"reason": "manual"},
    )
    return membership


@transaction.atomic
def membership_revoke(*, actor: User | None, source: str, membership: EntitlementMembership) -> None:
    """Revoke a manually managed membership. Role-managed ones are refused: the role decides."""
    membership = (
        EntitlementMembership.objects.select_for_update(of=("self",))
        .select_related("account__resource", "entitlement")
        .get(pk=membership.pk)
    )
    roles = list(Role.objects.filter(membership_grants__membership=membership).values_list("name", flat=True))
    if roles:
        raise Conflict(
            gettext(
                "%(name)s is managed by role(s) %(roles)s and cannot be revoked manually; remove the user from the role or the entitlement from the role."
            )
            % {"name": membership.entitlement.name, "roles": ", ".join(sorted(roles))},
            code="role_managed",
        )
    account = membership.account
    audit_record(
        actor=actor,
        action="membership.revoked",
        obj=membership,
        object_repr=f"{membership.entitlement} ∈ {account}",
        old={"account": str(account), "entitlement": membership.entitlement.identifier},
        source=source,
        subject_user_id=account.owner_id,
    )
    ports.provisioning().entry_write(
        resource=account.resource,
        event_type=ProvisioningEvent.REVOKE_ENTITLEMENT,
        account_id=account.pk,
        entitlement_id=membership.entitlement_id,
        user_id=account.owner_id,
        payload={"reason": "manual"},
    )
    membership.delete()
