"""Role memberships: granting a role fans out everything it holds to the member, revoking takes
back what no other role or manual decision keeps (seed 002 "Papéis")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from blazon.audit.services import AuditEntry, audit_record, audit_record_many
from blazon.errors import Conflict, ValidationFailed
from directory.models import (
    Account,
    AccountRoleGrant,
    EntitlementMembership,
    MembershipRoleGrant,
    Role,
    RoleEntitlement,
    RoleMembership,
    RoleMembershipManagement,
    RoleResource,
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
        owner: int | None
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
            gettext("User %(username)s is %(status)s: roles cannot be granted.")
            % {"username": user.username, "status": user.status},
            code="user_not_active",
        )
    if management not in RoleMembershipManagement.values:
        raise ValidationFailed(
            gettext("Unknown management %(management)r.") % {"management": management},
            fields={"management": [gettext("Unknown value.")]},
        )
    if start_date and end_date and end_date <= start_date:
        raise ValidationFailed(
            gettext("The end date must be after the start date."),
            fields={"end_date": [gettext("Before start.")]},
        )
    if RoleMembership.objects.filter(user=user, role=role).exists():
        raise Conflict(
            gettext("%(username)s already has the role %(name)s.")
            % {"username": user.username, "name": role.name},
            fields={"role": [gettext("Already granted.")]},
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
) -> dict[str, int]:
    """Remove a user from a role; revoke only what no other role or manual decision keeps.
    Memberships managed by an assignment policy cannot be revoked manually."""
    membership = (
        RoleMembership.objects.select_for_update(of=("self",))
        .select_related("role", "user")
        .get(pk=membership.pk)
    )
    if membership.management == RoleMembershipManagement.ASSIGNMENT_POLICY and source != "automatic":
        raise Conflict(
            gettext(
                "%(username)s's membership of %(name)s is managed by an assignment policy and cannot be revoked manually."
            )
            % {"username": membership.user.username, "name": membership.role.name},
            code="policy_managed",
        )
    return _role_membership_remove(
        actor=actor, source=source, membership=membership, keep_as_manual=keep_as_manual
    )


def _role_membership_remove(
    *, actor: User | None, source: str, membership: RoleMembership, keep_as_manual: bool
) -> dict[str, int]:
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


def why(*, account: Account | None = None, membership: EntitlementMembership | None = None) -> dict[str, Any]:
    """Why an access exists: the roles that keep it and whether a manual decision does."""
    obj: Any = account or membership
    grants = AccountRoleGrant if account is not None else MembershipRoleGrant
    field = "account" if account is not None else "membership"
    roles = list(grants.objects.filter(**{field: obj}).values_list("role__name", flat=True))
    return {"manual": obj.manual, "roles": sorted(roles)}
