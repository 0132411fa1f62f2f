"""Role changes: items added to or removed from a role, previewed, recorded and fanned out to
every member in the background (seed 004)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, ValidationFailed
from blazon.tasks import enqueue_on_commit
from directory import ports
from directory.models import (
    Account,
    AccountRoleGrant,
    AccountStatus,
    AccountType,
    Entitlement,
    EntitlementMembership,
    MembershipRoleGrant,
    Resource,
    Role,
    RoleChange,
    RoleChangeStatus,
    RoleEntitlement,
    RoleMembership,
    RoleResource,
    User,
    UserStatus,
)
from directory.services.access.roles import _audit_fanout
from directory.services.fanout import (
    FanoutResult,
    Scope,
    grant_entitlements,
    grant_resource,
    revoke_entitlements,
    revoke_resource,
)
from directory.tasks import apply_role_change


def _item(resource: Resource | None, entitlement: Entitlement | None) -> tuple[Resource, Entitlement | None]:
    if (resource is None) == (entitlement is None):
        raise ValidationFailed(
            gettext("Give either a resource or an entitlement."),
            fields={"item": [gettext("Exactly one of resource or entitlement.")]},
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
        raise ValidationFailed(
            gettext("Unknown action %(action)r.") % {"action": action},
            fields={"action": [gettext("ADD or REMOVE.")]},
        )
    granted: QuerySet[Any]
    others: QuerySet[Any, Any]
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
    approval: bool = True,
) -> RoleChange:
    """Record a role change entry and have it applied in the background (at once in the
    embedded mode), once its approval steps (if any) have passed. ``approval=False`` skips the
    steps: for initial loads only (the demo loader seeding its roles)."""
    if action not in RoleChange.Action.values:
        raise ValidationFailed(
            gettext("Unknown action %(action)r: use ADD or REMOVE.") % {"action": action},
            fields={"action": [gettext("ADD or REMOVE.")]},
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
                gettext("%(value)s is already in role %(name)s.") % {"value": ent or res, "name": role.name},
                fields={"item": [gettext("Already in the role.")]},
            )
    else:
        present = (
            RoleEntitlement.objects.filter(role=role, entitlement=ent).exists()
            if ent
            else RoleResource.objects.filter(role=role, resource=res).exists()
        )
        if not present:
            raise Conflict(
                gettext("%(value)s is not in role %(name)s.") % {"value": ent or res, "name": role.name},
                fields={"item": [gettext("Not in the role.")]},
            )
    pending = RoleChange.objects.filter(
        role=role,
        status__in=[RoleChangeStatus.PENDING, RoleChangeStatus.RUNNING, RoleChangeStatus.WAITING],
        resource=resource,
        entitlement=entitlement,
    )
    if pending.exists():
        raise Conflict(gettext("The same change for this role is already pending."), code="duplicate_pending")
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

    # the approval steps (seed 004), when the governance layer provides them, may hold the change
    approvals = ports.role_change_approvals()
    if not approval or approvals is None or not approvals.hold(change=change, actor=actor, source=source):
        enqueue_on_commit(apply_role_change, change.pk)
    return change


def role_change_apply(*, role_change_id: int) -> RoleChange:
    """Apply a role change to the role and all its members. Safe to run twice: a finished
    change is left alone, a change interrupted half-way (rolled back) is applied again."""
    RoleChange.objects.filter(pk=role_change_id, status=RoleChangeStatus.PENDING).update(
        status=RoleChangeStatus.RUNNING, started_at=timezone.now()
    )
    try:
        with translation.override("en"):  # the error it stores is data, not a page's text
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
    if change.status != RoleChangeStatus.RUNNING:
        # finished, or waiting for / denied by its approval steps: nothing to apply
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


def role_changes_stuck(older_than: Any) -> QuerySet[RoleChange]:
    """Role changes PENDING or RUNNING since before ``older_than`` (their fan-out never ran
    or its worker was lost)."""

    return RoleChange.objects.filter(
        Q(status=RoleChangeStatus.PENDING, created_at__lt=older_than)
        | Q(status=RoleChangeStatus.RUNNING, started_at__lt=older_than)
    )


def role_changes_redrive(older_than: Any, limit: int) -> int:
    """Apply stuck role changes again (``role_change_apply`` is idempotent); how many were."""

    ids = list(role_changes_stuck(older_than).order_by("pk").values_list("pk", flat=True)[:limit])
    done = 0
    for pk in ids:
        try:
            role_change_apply(role_change_id=pk)
            done += 1
        except Exception:  # logged; the next sweep tries again
            logging.getLogger("blazon.directory").exception("stuck-work sweep: role change #%s failed", pk)
    return done
