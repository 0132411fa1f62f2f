"""Account transitions (activate, inactivate, revoke) one account at a time."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, TransitionNotAllowed
from directory import ports
from directory.models import (
    Account,
    AccountRoleGrant,
    AccountStatus,
    AccountType,
    Entitlement,
    EntitlementMembership,
    Management,
    MembershipRoleGrant,
    Role,
    User,
    UserStatus,
)
from directory.services.lifecycle.cascade import _EVENT, _drop_entitlements_of
from directory.services.lifecycle.rules import ROLE_MANAGED_REVOKE_SOURCES, S, _check_source

ACCOUNT_TRANSITIONS = {
    (AccountStatus.ACTIVE, AccountStatus.INACTIVE),
    (AccountStatus.INACTIVE, AccountStatus.ACTIVE),
    (AccountStatus.ACTIVE, AccountStatus.REVOKED),
    (AccountStatus.INACTIVE, AccountStatus.REVOKED),
}


def _account_transition(*, actor: User | None, source: str, account: Account, to: str) -> Account:
    _check_source(source)
    acc = (
        Account.objects.select_for_update(of=("self",)).select_related("resource", "owner").get(pk=account.pk)
    )
    frm = acc.status
    if frm == to:
        return acc
    if (frm, to) not in ACCOUNT_TRANSITIONS:
        raise TransitionNotAllowed(
            f"Account {acc} cannot go from {frm} to {to} (source {source})"
            + (
                "; a revoked account is final, request a new access instead."
                if frm == AccountStatus.REVOKED
                else "."
            ),
            fields={"status": [gettext("%(frm)s → %(to)s is not allowed.") % {"frm": frm, "to": to}]},
        )
    follows_owner = acc.owner_id is not None and (acc.account_type == AccountType.REGULAR or acc.is_temporary)
    now = timezone.now()
    if to == AccountStatus.ACTIVE:
        owner = acc.owner if follows_owner else None
        if owner is not None and owner.status != UserStatus.ACTIVE:
            raise Conflict(
                gettext(
                    "Account %(acc)s follows its owner %(username)s, who is %(status)s: activate the user instead."
                )
                % {"acc": acc, "username": owner.username, "status": owner.status},
                code="owner_not_active",
            )
        if acc.is_temporary and acc.expires_at and acc.expires_at <= now:
            raise Conflict(
                gettext("Temporary account %(acc)s expired on %(expires_at)s.")
                % {"acc": acc, "expires_at": f"{acc.expires_at:%Y-%m-%d %H:%M}"},
                code="expired",
            )
    if to == AccountStatus.REVOKED and source not in ROLE_MANAGED_REVOKE_SOURCES:
        roles = sorted(Role.objects.filter(account_grants__account=acc).values_list("name", flat=True))
        if roles:
            raise Conflict(
                gettext(
                    "Account %(acc)s is managed by role(s) %(roles)s and cannot be revoked manually; remove the user from the role or the resource from the role."
                )
                % {"acc": acc, "roles": ", ".join(roles)},
                code="role_managed",
            )
    fields = ["status", "status_changed_at", "updated_at"]
    if to == AccountStatus.REVOKED:
        _drop_entitlements_of([acc.pk])
        acc.management = Management.MANUAL
        fields.append("management")
    acc.status, acc.status_changed_at = to, now
    acc.save(update_fields=fields)
    event, action = _EVENT[to]
    entry = ports.provisioning().entry_write(
        resource=acc.resource,
        event_type=event,
        account_id=acc.pk,
        user_id=acc.owner_id,
        payload={
            "reason": "manual" if source not in (S.AUTOMATIC, S.RECONCILIATION) else source,
            "identifier": acc.identifier,
        },
    )
    audit_record(
        actor=actor,
        action=action,
        obj=acc,
        old={"status": frm},
        new={"status": to, "provisioning_entry": entry.pk if entry else None},
        source=source,
        subject_user_id=acc.owner_id,
    )
    account.status, account.status_changed_at, account.management = (
        acc.status,
        acc.status_changed_at,
        acc.management,
    )
    return acc


@transaction.atomic
def account_activate(*, actor: User | None, source: str, account: Account) -> Account:
    """INACTIVE → ACTIVE. A regular account follows its owner: it cannot be activated while the
    owner is not ACTIVE."""
    return _account_transition(actor=actor, source=source, account=account, to=AccountStatus.ACTIVE)


@transaction.atomic
def account_inactivate(*, actor: User | None, source: str, account: Account) -> Account:
    """ACTIVE → INACTIVE (the owner stays as they are)."""
    return _account_transition(actor=actor, source=source, account=account, to=AccountStatus.INACTIVE)


@transaction.atomic
def account_revoke(*, actor: User | None, source: str, account: Account) -> Account:
    """ACTIVE/INACTIVE → REVOKED (final); its entitlements go with it. Role-managed accounts
    are refused: the role decides."""
    return _account_transition(actor=actor, source=source, account=account, to=AccountStatus.REVOKED)


def account_access_snapshot(account: Account) -> dict[str, Any]:
    """What a revocation takes from ``account`` in the directory (its management, the roles
    keeping it, its entitlement memberships and the roles keeping those): JSON, kept by the
    caller so ``account_restore_revoked`` can put it back if the application refuses."""
    memberships = list(
        EntitlementMembership.objects.filter(account_id=account.pk).values_list(
            "pk", "entitlement_id", "management", "manual"
        )
    )
    grants: dict[int, list[int]] = {}
    for membership_id, role_id in MembershipRoleGrant.objects.filter(
        membership_id__in=[m[0] for m in memberships]
    ).values_list("membership_id", "role_id"):
        grants.setdefault(membership_id, []).append(role_id)
    return {
        "management": account.management,
        "manual": account.manual,
        "roles": sorted(
            AccountRoleGrant.objects.filter(account_id=account.pk).values_list("role_id", flat=True)
        ),
        "memberships": [
            {"entitlement_id": ent, "management": mgmt, "manual": manual, "roles": sorted(grants.get(pk, []))}
            for pk, ent, mgmt, manual in memberships
        ],
    }


@transaction.atomic
def account_restore_revoked(
    *, actor: User | None, source: str, account: Account, status: str, snapshot: dict[str, Any]
) -> Account:
    """REVOKED → ``status`` (ACTIVE or INACTIVE) in the directory only, with what the revocation
    took (``account_access_snapshot``): the rollback of a revocation the application refused, so
    the directory again says what the application has. No provisioning entry (the application
    never lost the account); entitlements or roles deleted meanwhile are skipped and reported.
    Refused when the account is not REVOKED or its owner has left (REVOKED/REMOVED): then the
    application's account is an orphan for reconciliation to report."""
    _check_source(source)
    acc = (
        Account.objects.select_for_update(of=("self",)).select_related("resource", "owner").get(pk=account.pk)
    )
    if acc.status != AccountStatus.REVOKED:
        raise TransitionNotAllowed(
            gettext("Account %(acc)s is %(status)s, not REVOKED: nothing to restore.")
            % {"acc": acc, "status": acc.status},
            code="not_revoked",
        )
    if status not in (AccountStatus.ACTIVE, AccountStatus.INACTIVE):
        raise TransitionNotAllowed(
            gettext("Account %(acc)s cannot be restored to %(status)s.") % {"acc": acc, "status": status},
            code="bad_status",
        )
    follows_owner = acc.owner_id is not None and (acc.account_type == AccountType.REGULAR or acc.is_temporary)
    if (
        follows_owner
        and acc.owner is not None
        and acc.owner.status not in (UserStatus.ACTIVE, UserStatus.INACTIVE)
    ):
        raise Conflict(
            gettext("Account %(acc)s is not restored: its owner %(username)s is %(status)s.")
            % {"acc": acc, "username": acc.owner.username, "status": acc.owner.status},
            code="owner_gone",
        )
    if follows_owner and acc.owner is not None and acc.owner.status == UserStatus.INACTIVE:
        status = AccountStatus.INACTIVE  # an inactive owner's regular account is inactive
    live_roles = set(Role.objects.filter(pk__in=snapshot.get("roles", [])).values_list("pk", flat=True))
    wanted = snapshot.get("memberships", [])
    live_ents = set(
        Entitlement.objects.filter(pk__in=[m["entitlement_id"] for m in wanted]).values_list("pk", flat=True)
    )
    AccountRoleGrant.objects.bulk_create(
        [AccountRoleGrant(account=acc, role_id=r) for r in sorted(live_roles)], ignore_conflicts=True
    )
    # set-based: one insert of the memberships, one read of their ids, one insert of the grants
    kept = [item for item in wanted if item["entitlement_id"] in live_ents]
    skipped = [item["entitlement_id"] for item in wanted if item["entitlement_id"] not in live_ents]
    restored = [item["entitlement_id"] for item in kept]
    EntitlementMembership.objects.bulk_create(
        [
            EntitlementMembership(
                account=acc,
                entitlement_id=item["entitlement_id"],
                management=item["management"],
                manual=item["manual"],
            )
            for item in kept
        ],
        ignore_conflicts=True,
    )
    ids = dict(
        EntitlementMembership.objects.filter(account=acc, entitlement_id__in=restored).values_list(
            "entitlement_id", "pk"
        )
    )
    MembershipRoleGrant.objects.bulk_create(
        [
            MembershipRoleGrant(membership_id=ids[item["entitlement_id"]], role_id=r)
            for item in kept
            for r in item["roles"]
            if r in live_roles
        ],
        ignore_conflicts=True,
    )
    now = timezone.now()
    acc.status, acc.status_changed_at = status, now
    acc.management = snapshot.get("management", acc.management)
    acc.manual = snapshot.get("manual", acc.manual)
    acc.save(update_fields=["status", "status_changed_at", "updated_at", "management", "manual"])
    audit_record(
        actor=actor,
        action="account.restored",
        obj=acc,
        old={"status": AccountStatus.REVOKED},
        new={
            "status": status,
            "reason": "revocation failed in the application",
            "entitlements_restored": restored,
            "entitlements_gone": skipped,
            "roles_restored": sorted(live_roles),
            "provisioning_entry": None,
        },
        source=source,
        subject_user_id=acc.owner_id,
    )
    account.status, account.status_changed_at, account.management = status, now, acc.management
    return acc
