"""Accesses: accounts, entitlement memberships, role memberships, and role changes with their
fan-out to members (seed 002 "Contas", "Direitos", "Papéis"; seed 004).

Role- and policy-managed objects cannot be revoked manually: the role (or the policy) decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from blazon.audit.services import AuditEntry, audit_record, audit_record_many
from blazon.errors import Conflict, ValidationFailed
from blazon.tasks import enqueue_on_commit
from directory.models import (
    Account,
    AccountRoleGrant,
    AccountStatus,
    AccountType,
    AttributeDefinition,
    AttributeScope,
    DirectoryEvent,
    DirectoryEventKind,
    Entitlement,
    EntitlementMembership,
    Management,
    MembershipRoleGrant,
    ProvisioningEvent,
    Resource,
    Role,
    RoleChange,
    RoleChangeStatus,
    RoleEntitlement,
    RoleMembership,
    RoleMembershipManagement,
    RoleResource,
    SharedAccountMember,
    User,
    UserStatus,
)
from directory.services.fanout import (
    FanoutResult,
    Scope,
    grant_entitlements,
    grant_resource,
    revoke_entitlements,
    revoke_resource,
)
from directory.services.users import attribute_values_validate
from provisioning.services import (
    entries_cancel_pending_for_account,
    entries_delivered_for_account,
    entry_write,
)

# ---------------------------------------------------------------------------------------------
# Accounts and memberships (manual)
# ---------------------------------------------------------------------------------------------


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
        errors["account_type"] = [f"Unknown account type {account_type!r}."]
    identifier = (identifier or (owner.username if owner else "")).strip()
    if not identifier:
        errors["identifier"] = ["An identifier is required for an account without owner."]
    if owner is not None and owner.status not in (UserStatus.ACTIVE, UserStatus.INACTIVE):
        errors["owner"] = [f"User {owner.username} is {owner.status}: no new accounts."]
    if is_temporary and not expires_at:
        errors["expires_at"] = ["A temporary account needs an expiry date."]
    if expires_at and expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry date must be in the future."]
    if account_type in (AccountType.APPLICATION, AccountType.SHARED, AccountType.ADMINISTRATIVE) and owner:
        errors["owner"] = ["Non-nominal accounts have a responsible user, not an owner."]
    if account_type == AccountType.REGULAR and responsible:
        errors["responsible"] = ["Regular accounts have an owner, not a responsible user."]
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
            f"{owner.username} already has a regular account on {resource.name}; a user has one per resource.",
            fields={"owner": ["Already has a regular account on this resource."]},
        )
    if Account.objects.filter(resource=resource, identifier=identifier).exists():
        raise Conflict(
            f"Identifier {identifier!r} is already used on {resource.name}.",
            fields={"identifier": ["Already used on this resource."]},
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
        raise Conflict("The account already exists (created concurrently).") from exc
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
    entry_write(
        resource=resource,
        event_type=ProvisioningEvent.CREATE_ACCOUNT,
        account_id=account.pk,
        user_id=owner.pk if owner else None,
        payload={"reason": "manual"},
    )
    return account


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
            f"{entitlement.name} belongs to {entitlement.resource.name}, not to {account.resource.name}.",
            fields={"entitlement": ["Belongs to another resource."]},
        )
    if account.status == AccountStatus.REVOKED:
        raise Conflict("The account is revoked: grant nothing to it.", fields={"account": ["Revoked."]})
    existing = (
        EntitlementMembership.objects.select_for_update()
        .filter(account=account, entitlement=entitlement)
        .first()
    )
    if existing is not None:
        if existing.manual:
            raise Conflict(
                f"{account} already holds {entitlement.name}.", fields={"entitlement": ["Already granted."]}
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
    entry_write(
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
            f"{membership.entitlement.name} is managed by role(s) {', '.join(sorted(roles))} and cannot be revoked "
            "manually; remove the user from the role or the entitlement from the role.",
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
    entry_write(
        resource=account.resource,
        event_type=ProvisioningEvent.REVOKE_ENTITLEMENT,
        account_id=account.pk,
        entitlement_id=membership.entitlement_id,
        user_id=account.owner_id,
        payload={"reason": "manual"},
    )
    membership.delete()


# Attribute values an account may carry without definitions: JSON scalars (the request layer
# refuses secret-looking keys before anything reaches here).
_ACCOUNT_ATTRIBUTE_SCALARS = (str, int, float, bool)


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
            "Give the account attributes to change (an object of names and values).",
            fields={"attributes": ["Expected a non-empty object."]},
        )
    acc = Account.objects.select_for_update(of=("self",)).select_related("resource").get(pk=account.pk)
    if acc.status == AccountStatus.REVOKED:
        raise Conflict(
            f"Account {acc} is revoked: its attributes cannot change.", fields={"account": ["Revoked."]}
        )
    errors: dict[str, list[str]] = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not name.strip():
            errors["attributes"] = ["Attribute names must be non-empty text."]
        elif value is not None and not isinstance(value, _ACCOUNT_ATTRIBUTE_SCALARS):
            errors[f"attributes.{name}"] = [
                "A value must be text, a number, true/false, or null to remove it."
            ]
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
    entry = entry_write(
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
            f"Account {acc} is kept by a role: the role decides, it cannot be removed.", code="role_managed"
        )
    delivered = entries_delivered_for_account(account_id=acc.pk)
    if delivered:
        raise Conflict(
            f"Account {acc} may exist in {acc.resource.name} ({delivered} provisioning entr"
            f"{'y' if delivered == 1 else 'ies'} pulled or delivered): revoke it instead of removing it.",
            code="provisioned",
        )
    canceled = entries_cancel_pending_for_account(account_id=acc.pk)
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
            "owner": acc.owner.username if acc.owner_id else None,
            "entitlements": sorted(memberships),
        },
        new={"canceled_provisioning_entries": canceled},
        source=source,
        subject_user_id=acc.owner_id,
    )
    acc.delete()


@transaction.atomic
def shared_member_add(
    *, actor: User | None, source: str, account: Account, user: User
) -> SharedAccountMember:
    """Let ``user`` use the SHARED ``account`` (they will know its password). Only ACTIVE
    users join; a revoked account takes no one."""
    account = Account.objects.select_for_update(of=("self",)).select_related("resource").get(pk=account.pk)
    if account.account_type != AccountType.SHARED:
        raise ValidationFailed(
            f"{account} is a {account.get_account_type_display().lower()} account; only shared accounts have members.",
            fields={"account": ["Not a shared account."]},
        )
    if account.status == AccountStatus.REVOKED:
        raise Conflict(f"{account} is revoked: it takes no new members.", fields={"account": ["Revoked."]})
    user = User.objects.get(pk=user.pk)
    if user.status != UserStatus.ACTIVE:
        raise ValidationFailed(
            f"{user.username} is {user.status}: only ACTIVE users can be members of a shared account.",
            fields={"user": [f"The user is {user.status}, not ACTIVE."]},
        )
    if SharedAccountMember.objects.filter(account=account, user=user).exists():
        raise Conflict(
            f"{user.username} is already a member of {account}.", fields={"user": ["Already a member."]}
        )
    try:
        with transaction.atomic():
            member = SharedAccountMember.objects.create(account=account, user=user)
    except IntegrityError as exc:  # a concurrent addition won the race
        raise Conflict(f"{user.username} is already a member of {account}.") from exc
    audit_record(
        actor=actor,
        action="shared_account.member_added",
        obj=account,
        new={"member": user.username},
        source=source,
        subject_user_id=user.pk,
    )
    return member


@transaction.atomic
def shared_member_remove(*, actor: User | None, source: str, member: SharedAccountMember) -> None:
    """Take a user out of a shared account and open a password-rotation alert (a follow-up
    event, as the life-cycle cascade does): the user still knows the current password."""
    member = (
        SharedAccountMember.objects.select_for_update(of=("self",))
        .select_related("account__resource", "user")
        .filter(pk=member.pk)
        .first()
    )
    if member is None:
        raise Conflict("This member was already removed from the shared account.")
    account, user = member.account, member.user
    label = user.get_full_name() or user.username
    member.delete()
    DirectoryEvent.objects.create(
        kind=DirectoryEventKind.SHARED_MEMBER_REMOVED,
        user=user,
        user_repr=label,
        object_type=Account._meta.label,
        object_id=str(account.pk),
        object_repr=str(account),
        detail=f"{label} was removed from this shared account: rotate its password.",
    )
    audit_record(
        actor=actor,
        action="shared_account.member_removed",
        obj=account,
        old={"member": user.username},
        new={"reason": "manual", "rotation_alert_opened": True},
        source=source,
        subject_user_id=user.pk,
    )


# ---------------------------------------------------------------------------------------------
# Role memberships
# ---------------------------------------------------------------------------------------------


def _fan_in(role: Role, scope: Scope) -> FanoutResult:
    """Grant everything ``role`` holds to the members in ``scope``."""
    result = FanoutResult()
    items = list(RoleResource.objects.filter(role=role).select_related("resource"))
    ent_by_resource: dict[int, list[int]] = {}
    for resource_id, ent_id in RoleEntitlement.objects.filter(role=role).values_list(
        "entitlement__resource_id", "entitlement_id"
    ):
        ent_by_resource.setdefault(resource_id, []).append(ent_id)
    for item in items:
        result.merge(grant_resource(scope=scope, resource=item.resource, role_code=role.code))
        result.merge(
            grant_entitlements(
                scope=scope,
                entitlement_ids=ent_by_resource.get(item.resource_id, []),
                resource=item.resource,
                role_code=role.code,
            )
        )
    return result


def _fan_out_revoke(role: Role, scope: Scope, *, keep_as_manual: bool) -> FanoutResult:
    """Take back everything ``role`` gives from the members in ``scope``."""
    result = FanoutResult()
    ent_by_resource: dict[int, list[int]] = {}
    for resource_id, ent_id in RoleEntitlement.objects.filter(role=role).values_list(
        "entitlement__resource_id", "entitlement_id"
    ):
        ent_by_resource.setdefault(resource_id, []).append(ent_id)
    for item in RoleResource.objects.filter(role=role).select_related("resource"):
        result.merge(
            revoke_entitlements(
                scope=scope,
                entitlement_ids=ent_by_resource.get(item.resource_id, []),
                resource=item.resource,
                role_code=role.code,
                keep_as_manual=keep_as_manual,
            )
        )
        result.merge(
            revoke_resource(
                scope=scope, resource=item.resource, role_code=role.code, keep_as_manual=keep_as_manual
            )
        )
    return result


def _audit_fanout(result: FanoutResult, *, actor: User | None, source: str, role: Role, change: str) -> int:
    """One audit event per access the fan-out created, revoked or re-activated."""
    extra = {"role": role.code, "change": change}

    def entries() -> Iterator[AuditEntry]:
        for acc, owner in result.accounts_created:
            yield AuditEntry("account.created", "directory.Account", acc, subject_user_id=owner, extra=extra)
        for acc, owner in result.accounts_reactivated:
            yield AuditEntry(
                "account.reactivated", "directory.Account", acc, subject_user_id=owner, extra=extra
            )
        for acc, owner in result.accounts_revoked:
            yield AuditEntry("account.revoked", "directory.Account", acc, subject_user_id=owner, extra=extra)
        for m, _acc, owner in result.memberships_created:
            yield AuditEntry(
                "membership.granted", "directory.EntitlementMembership", m, subject_user_id=owner, extra=extra
            )
        for m, _acc, owner in result.memberships_revoked:
            yield AuditEntry(
                "membership.revoked", "directory.EntitlementMembership", m, subject_user_id=owner, extra=extra
            )

    return audit_record_many(entries(), actor=actor, source=source)


@transaction.atomic
def role_grant(
    *,
    actor: User | None,
    source: str,
    user: User,
    role: Role,
    management: str = RoleMembershipManagement.MANUAL,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
) -> RoleMembership:
    """Make ``user`` a member of ``role`` and give them everything the role holds."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.status not in (UserStatus.ACTIVE, UserStatus.INACTIVE):
        raise Conflict(
            f"User {user.username} is {user.status}: roles cannot be granted.", code="user_not_active"
        )
    if management not in RoleMembershipManagement.values:
        raise ValidationFailed(
            f"Unknown management {management!r}.", fields={"management": ["Unknown value."]}
        )
    if start_date and end_date and end_date <= start_date:
        raise ValidationFailed(
            "The end date must be after the start date.", fields={"end_date": ["Before start."]}
        )
    if RoleMembership.objects.filter(user=user, role=role).exists():
        raise Conflict(
            f"{user.username} already has the role {role.name}.", fields={"role": ["Already granted."]}
        )
    Role.objects.select_for_update().filter(pk=role.pk).first()  # serialise with role changes
    membership = RoleMembership.objects.create(
        user=user, role=role, management=management, start_date=start_date, end_date=end_date
    )
    result = _fan_in(role, Scope(role.pk, [user.pk]))
    audit_record(
        actor=actor,
        action="role_membership.granted",
        obj=membership,
        object_repr=f"{user.username} ∈ {role.name}",
        new={
            "role": role.code,
            "management": management,
            "start_date": start_date,
            "end_date": end_date,
            **result.summary(),
        },
        source=source,
        subject_user_id=user.pk,
    )
    _audit_fanout(result, actor=actor, source=source, role=role, change="member_added")
    return membership


@transaction.atomic
def role_revoke(
    *, actor: User | None, source: str, membership: RoleMembership, keep_as_manual: bool = False
) -> dict:
    """Remove a user from a role; revoke only what no other role or manual decision keeps.
    Memberships managed by an assignment policy cannot be revoked manually."""
    membership = (
        RoleMembership.objects.select_for_update(of=("self",))
        .select_related("role", "user")
        .get(pk=membership.pk)
    )
    if membership.management == RoleMembershipManagement.ASSIGNMENT_POLICY and source != "automatic":
        raise Conflict(
            f"{membership.user.username}'s membership of {membership.role.name} is managed by an assignment policy "
            "and cannot be revoked manually.",
            code="policy_managed",
        )
    return _role_membership_remove(
        actor=actor, source=source, membership=membership, keep_as_manual=keep_as_manual
    )


def _role_membership_remove(
    *, actor: User | None, source: str, membership: RoleMembership, keep_as_manual: bool
) -> dict:
    role, user = membership.role, membership.user
    Role.objects.select_for_update().filter(pk=role.pk).first()
    result = _fan_out_revoke(role, Scope(role.pk, [user.pk]), keep_as_manual=keep_as_manual)
    audit_record(
        actor=actor,
        action="role_membership.revoked",
        obj=membership,
        object_repr=f"{user.username} ∈ {role.name}",
        old={"role": role.code, "management": membership.management},
        new={"keep_as_manual": keep_as_manual, **result.summary()},
        source=source,
        subject_user_id=user.pk,
    )
    _audit_fanout(result, actor=actor, source=source, role=role, change="member_removed")
    membership.delete()
    return result.summary()


@transaction.atomic
def role_memberships_revoke_for_user(*, actor: User | None, source: str, user: User) -> int:
    """Life-cycle cascade: remove ``user`` from all roles (policy-managed included) and revoke
    what those roles kept. Returns the number of role memberships removed."""
    count = 0
    for membership in (
        RoleMembership.objects.select_for_update(of=("self",))
        .select_related("role", "user")
        .filter(user=user)
    ):
        _role_membership_remove(actor=actor, source=source, membership=membership, keep_as_manual=False)
        count += 1
    return count


# ---------------------------------------------------------------------------------------------
# Role changes: items added to / removed from a role, fanned out to every member
# ---------------------------------------------------------------------------------------------


def _item(resource: Resource | None, entitlement: Entitlement | None) -> tuple[Resource, Entitlement | None]:
    if (resource is None) == (entitlement is None):
        raise ValidationFailed(
            "Give either a resource or an entitlement.",
            fields={"item": ["Exactly one of resource or entitlement."]},
        )
    if entitlement is not None:
        return entitlement.resource, entitlement
    assert resource is not None
    return resource, None


def role_change_preview(
    *, role: Role, action: str, resource: Resource | None = None, entitlement: Entitlement | None = None
) -> dict[str, int]:
    """What adding or removing an item would do, counted without changing anything."""
    res, ent = _item(resource, entitlement)
    members = RoleMembership.objects.filter(role=role)
    member_ids = members.values("user_id")
    out: dict[str, int] = {"members": members.count()}
    regular = Account.objects.filter(resource=res, account_type=AccountType.REGULAR, owner_id__in=member_ids)
    if action == RoleChange.Action.ADD:
        has_resource = RoleResource.objects.filter(role=role, resource=res).exists()
        out["adds_resource"] = int(not has_resource)
        live = regular.exclude(status=AccountStatus.REVOKED)
        reactivated = 0
        if not has_resource:
            # what grant_resource does: create for ACTIVE/INACTIVE members without a regular
            # account, re-activate the REVOKED accounts of ACTIVE members, adopt the others
            out["accounts_to_create"] = (
                members.filter(user__status__in=[UserStatus.ACTIVE, UserStatus.INACTIVE])
                .exclude(
                    user_id__in=Account.objects.filter(resource=res, account_type=AccountType.REGULAR).values(
                        "owner_id"
                    )
                )
                .count()
            )
            reactivated = regular.filter(
                status=AccountStatus.REVOKED, owner__status=UserStatus.ACTIVE
            ).count()
            out["accounts_to_reactivate"] = reactivated
            out["accounts_to_adopt"] = live.exclude(role_grants__role=role).count()
        else:
            out["accounts_to_create"] = 0
            out["accounts_to_adopt"] = 0
        if ent is not None:
            # the entitlement goes on every live regular account the members will hold
            held = EntitlementMembership.objects.filter(entitlement=ent, account__in=live)
            held_count = held.count()
            out["memberships_to_adopt"] = held.exclude(role_grants__role=role).count()
            out["memberships_to_create"] = live.count() + out["accounts_to_create"] + reactivated - held_count
        return out
    if action != RoleChange.Action.REMOVE:
        raise ValidationFailed(f"Unknown action {action!r}.", fields={"action": ["ADD or REMOVE."]})
    if ent is not None:
        granted = EntitlementMembership.objects.filter(entitlement=ent, role_grants__role=role)
        others = MembershipRoleGrant.objects.exclude(role=role).values("membership_id")
    else:
        granted = Account.objects.filter(resource=res, role_grants__role=role)
        others = AccountRoleGrant.objects.exclude(role=role).values("account_id")
        out["entitlements_removed_with_resource"] = RoleEntitlement.objects.filter(
            role=role, entitlement__resource=res
        ).count()
    total = granted.count()
    kept_by_roles = granted.filter(pk__in=others).count()
    kept_manual = granted.filter(manual=True).exclude(pk__in=others).count()
    out.update(
        {
            "granted_by_role": total,
            "kept_by_other_roles": kept_by_roles,
            "kept_manually": kept_manual,
            "to_revoke": total - kept_by_roles - kept_manual,
        }
    )
    return out


@transaction.atomic
def role_change_submit(
    *,
    actor: User | None,
    source: str,
    role: Role,
    action: str,
    resource: Resource | None = None,
    entitlement: Entitlement | None = None,
    keep_as_manual: bool = False,
) -> RoleChange:
    """Record a role change entry and have it applied in the background (at once in the
    embedded mode)."""
    if action not in RoleChange.Action.values:
        raise ValidationFailed(
            f"Unknown action {action!r}: use ADD or REMOVE.", fields={"action": ["ADD or REMOVE."]}
        )
    res, ent = _item(resource, entitlement)
    role = Role.objects.select_for_update().get(pk=role.pk)
    if action == RoleChange.Action.ADD:
        present = (
            RoleEntitlement.objects.filter(role=role, entitlement=ent).exists()
            if ent
            else RoleResource.objects.filter(role=role, resource=res).exists()
        )
        if present:
            raise Conflict(
                f"{ent or res} is already in role {role.name}.", fields={"item": ["Already in the role."]}
            )
    else:
        present = (
            RoleEntitlement.objects.filter(role=role, entitlement=ent).exists()
            if ent
            else RoleResource.objects.filter(role=role, resource=res).exists()
        )
        if not present:
            raise Conflict(f"{ent or res} is not in role {role.name}.", fields={"item": ["Not in the role."]})
    pending = RoleChange.objects.filter(
        role=role,
        status__in=[RoleChangeStatus.PENDING, RoleChangeStatus.RUNNING],
        resource=resource,
        entitlement=entitlement,
    )
    if pending.exists():
        raise Conflict("The same change for this role is already pending.", code="duplicate_pending")
    change = RoleChange.objects.create(
        role=role,
        action=action,
        resource=resource,
        entitlement=entitlement,
        keep_as_manual=keep_as_manual,
        requested_by=actor,
        source=source,
        members_affected=RoleMembership.objects.filter(role=role).count(),
    )
    audit_record(
        actor=actor,
        action="role.change_submitted",
        obj=change,
        object_repr=str(change),
        new={
            "role": role.code,
            "action": action,
            "resource": res.code,
            "entitlement": ent.identifier if ent else None,
            "keep_as_manual": keep_as_manual,
        },
        source=source,
    )
    from directory.tasks import apply_role_change

    enqueue_on_commit(apply_role_change, change.pk)
    return change


def role_change_apply(*, role_change_id: int) -> RoleChange:
    """Apply a role change to the role and all its members. Safe to run twice: a finished
    change is left alone, a change interrupted half-way (rolled back) is applied again."""
    RoleChange.objects.filter(pk=role_change_id, status=RoleChangeStatus.PENDING).update(
        status=RoleChangeStatus.RUNNING, started_at=timezone.now()
    )
    try:
        return _role_change_apply(role_change_id)
    except (ValidationFailed, Conflict) as exc:
        RoleChange.objects.filter(pk=role_change_id).exclude(status=RoleChangeStatus.DONE).update(
            status=RoleChangeStatus.FAILED, error=exc.message, finished_at=timezone.now()
        )
        return RoleChange.objects.get(pk=role_change_id)


@transaction.atomic
def _role_change_apply(role_change_id: int) -> RoleChange:
    change = (
        RoleChange.objects.select_for_update(of=("self",))
        .select_related("role", "resource", "entitlement")
        .get(pk=role_change_id)
    )
    if change.status in (RoleChangeStatus.DONE, RoleChangeStatus.FAILED):
        return change
    role = Role.objects.select_for_update().get(pk=change.role_id)
    actor = change.requested_by
    res, ent = _item(change.resource, change.entitlement)
    scope = Scope(role.pk)
    result = FanoutResult()
    steps: list[str] = []
    if change.action == RoleChange.Action.ADD:
        if not RoleResource.objects.filter(role=role, resource=res).exists():
            RoleResource.objects.create(role=role, resource=res)
            steps.append(f"resource {res.code} added")
            result.merge(grant_resource(scope=scope, resource=res, role_code=role.code))
            # entitlements the role already lists on this resource (none, normally)
            existing = list(
                RoleEntitlement.objects.filter(role=role, entitlement__resource=res).values_list(
                    "entitlement_id", flat=True
                )
            )
            result.merge(
                grant_entitlements(scope=scope, entitlement_ids=existing, resource=res, role_code=role.code)
            )
        if ent is not None and not RoleEntitlement.objects.filter(role=role, entitlement=ent).exists():
            RoleEntitlement.objects.create(role=role, entitlement=ent)
            steps.append(f"entitlement {ent.identifier} added")
            result.merge(
                grant_entitlements(scope=scope, entitlement_ids=[ent.pk], resource=res, role_code=role.code)
            )
    else:
        if ent is not None:
            result.merge(
                revoke_entitlements(
                    scope=scope,
                    entitlement_ids=[ent.pk],
                    resource=res,
                    role_code=role.code,
                    keep_as_manual=change.keep_as_manual,
                )
            )
            RoleEntitlement.objects.filter(role=role, entitlement=ent).delete()
            steps.append(f"entitlement {ent.identifier} removed")
        else:
            ents = list(
                RoleEntitlement.objects.filter(role=role, entitlement__resource=res).values_list(
                    "entitlement_id", flat=True
                )
            )
            result.merge(
                revoke_entitlements(
                    scope=scope,
                    entitlement_ids=ents,
                    resource=res,
                    role_code=role.code,
                    keep_as_manual=change.keep_as_manual,
                )
            )
            result.merge(
                revoke_resource(
                    scope=scope, resource=res, role_code=role.code, keep_as_manual=change.keep_as_manual
                )
            )
            RoleEntitlement.objects.filter(role=role, entitlement__resource=res).delete()
            RoleResource.objects.filter(role=role, resource=res).delete()
            steps.append(
                f"resource {res.code} removed" + (f" with {len(ents)} entitlement(s)" if ents else "")
            )
    summary = result.summary()
    audited = _audit_fanout(
        result, actor=actor, source=change.source, role=role, change=f"{change.action.lower()}"
    )
    audit_record(
        actor=actor,
        action="role.change_applied",
        obj=change,
        object_repr=str(change),
        new={"steps": steps, **summary, "audit_events": audited},
        source=change.source,
    )
    change.status = RoleChangeStatus.DONE
    change.result = {"steps": steps, **summary}
    change.members_affected = RoleMembership.objects.filter(role=role).count()
    change.finished_at = timezone.now()
    change.save(update_fields=["status", "result", "members_affected", "finished_at"])
    return change


def why(*, account: Account | None = None, membership: EntitlementMembership | None = None) -> dict[str, Any]:
    """Why an access exists: the roles that keep it and whether a manual decision does."""
    obj: Any = account or membership
    grants = AccountRoleGrant if account is not None else MembershipRoleGrant
    field = "account" if account is not None else "membership"
    roles = list(grants.objects.filter(**{field: obj}).values_list("role__name", flat=True))
    return {"manual": obj.manual, "roles": sorted(roles)}
