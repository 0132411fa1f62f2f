"""What a user's transition does to everything they have, set-based: their accounts moved in a
few statements with provisioning entries and audit, and the follow-up events (owner change,
shared-account password rotation, check-outs released)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from blazon.audit.services import AuditEntry, audit_record_many
from directory import ports
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    DirectoryEvent,
    DirectoryEventKind,
    DirectoryEventStatus,
    Entitlement,
    Management,
    Organization,
    ProvisioningEvent,
    Resource,
    Role,
    SharedAccountMember,
    User,
)


@dataclass(frozen=True)
class _AccountRow:
    id: int
    identifier: str
    owner_id: int | None
    old_status: str
    resource_id: int
    resource_code: str
    modes: dict[str, str]


def _ids_in(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """``column`` among ``ids``: one array parameter on PostgreSQL, a list elsewhere (SQLite)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _accounts_set_status(where: str, params: Sequence[Any], *, to: str, now: datetime) -> list[_AccountRow]:
    """Move the accounts matching ``where`` (on alias ``x``) to status ``to``: one locking
    SELECT and one UPDATE whatever their number; returns what changed with the resource's
    provisioning modes. Portable SQL: the embedded mode runs it on SQLite."""
    lock = " FOR UPDATE OF x" if connection.features.has_select_for_update_of else ""
    select = f"""
        SELECT x.id, x.identifier, x.owner_id, x.status, x.resource_id, r.code, r.provisioning_modes
        FROM directory_account x JOIN directory_resource r ON r.id = x.resource_id
        WHERE {where} ORDER BY x.id{lock}
    """  # noqa: S608 -- `where` is code, values are parameters
    with connection.cursor() as cur:
        cur.execute(select, list(params))
        rows = cur.fetchall()
        if not rows:
            return []
        ids = [row[0] for row in rows]
        extra = ", management = %s" if to == AccountStatus.REVOKED else ""
        extra_params: list[Any] = [Management.MANUAL] if to == AccountStatus.REVOKED else []
        for start in range(0, len(ids), 10_000):
            id_sql, id_params = _ids_in("id", ids[start : start + 10_000])
            cur.execute(
                f"UPDATE directory_account SET status = %s, status_changed_at = %s, updated_at = %s{extra} "  # noqa: S608
                f"WHERE {id_sql}",
                [to, now, now, *extra_params, *id_params],
            )
    out = []
    for acc_id, ident, owner_id, old, res_id, code, modes in rows:
        if isinstance(modes, str):
            modes = json.loads(modes)
        out.append(_AccountRow(acc_id, ident, owner_id, old, res_id, code, modes or {}))
    return out


def _entries_for_accounts(rows: Iterable[_AccountRow], *, event_type: str, reason: str) -> int:
    """One provisioning entry per account whose resource provisions ``event_type``, across
    resources in one insert (``directory.ports.Provisioning.entries_write_for_accounts``)."""
    return ports.provisioning().entries_write_for_accounts(
        ((r.id, r.resource_id, r.owner_id, r.identifier, r.modes) for r in rows),
        event_type=event_type,
        reason=reason,
    )


def _audit_accounts(
    rows: Sequence[_AccountRow], *, action: str, to: str, actor: User | None, source: str, reason: str
) -> int:
    return audit_record_many(
        (
            AuditEntry(
                action=action,
                object_type="directory.Account",
                object_id=row.id,
                object_repr=f"{row.identifier}@{row.resource_code}",
                old={"status": row.old_status},
                new={"status": to, "reason": reason},
                subject_user_id=row.owner_id,
            )
            for row in rows
        ),
        actor=actor,
        source=source,
    )


def _drop_entitlements_of(account_ids: Sequence[int]) -> None:
    """A revoked account's entitlements go with it (the application deletes the account), and
    no role keeps a revoked account."""
    if not account_ids:
        return
    ids = list(account_ids)
    with connection.cursor() as cur:
        for start in range(0, len(ids), 10_000):
            id_sql, id_params = _ids_in("account_id", ids[start : start + 10_000])
            cur.execute(
                "DELETE FROM directory_membershiprolegrant WHERE membership_id IN "  # noqa: S608
                f"(SELECT id FROM directory_entitlementmembership WHERE {id_sql})",
                id_params,
            )
            cur.execute(f"DELETE FROM directory_entitlementmembership WHERE {id_sql}", id_params)  # noqa: S608
            cur.execute(f"DELETE FROM directory_accountrolegrant WHERE {id_sql}", id_params)  # noqa: S608


_OWNED = "x.owner_id = %s AND (x.account_type = 'REGULAR' OR x.is_temporary)"

_EVENT: dict[str, tuple[str, str]] = {
    AccountStatus.ACTIVE: (ProvisioningEvent.ACTIVATE_ACCOUNT, "account.activated"),
    AccountStatus.INACTIVE: (ProvisioningEvent.INACTIVATE_ACCOUNT, "account.inactivated"),
    AccountStatus.REVOKED: (ProvisioningEvent.REVOKE_ACCOUNT, "account.revoked"),
}


def _cascade_accounts(
    where: str, params: Sequence[Any], *, to: str, actor: User | None, source: str, reason: str, now: datetime
) -> tuple[int, int]:
    """Move matching accounts to ``to``, write their provisioning entries and audit; returns
    (accounts changed, entries written)."""
    rows = _accounts_set_status(where, params, to=to, now=now)
    if not rows:
        return 0, 0
    if to == AccountStatus.REVOKED:
        _drop_entitlements_of([r.id for r in rows])
    event, action = _EVENT[to]
    entries = _entries_for_accounts(rows, event_type=event, reason=reason)
    _audit_accounts(rows, action=action, to=to, actor=actor, source=source, reason=reason)
    return len(rows), entries


# ---------------------------------------------------------------------------------------------
# Follow-up events: owner change, shared-account alerts
# ---------------------------------------------------------------------------------------------


def _owner_change_events(*, actor: User | None, source: str, user: User, why: str) -> int:
    """One follow-up event per object the user owns or is responsible for (seed 002): OWNER_CHANGE
    for resources, entitlements, roles, organizations and shared/administrative accounts;
    ACCOUNT_ADMIN_CHANGE for application accounts (a new administrator, or continuity). An object
    that already has an open event about this user gets no second one (inactivated, then
    revoked)."""
    label = user.get_full_name() or user.username
    objects: list[tuple[str, str, int, str]] = []
    owner = DirectoryEventKind.OWNER_CHANGE
    objects += [
        (owner, "directory.Resource", pk, name)
        for pk, name in Resource.objects.filter(owners=user).values_list("pk", "name")
    ]
    objects += [
        (owner, "directory.Entitlement", pk, f"{name} ({code})")
        for pk, name, code in Entitlement.objects.filter(owner=user).values_list(
            "pk", "name", "resource__code"
        )
    ]
    objects += [
        (owner, "directory.Role", pk, name)
        for pk, name in Role.objects.filter(owner=user).values_list("pk", "name")
    ]
    objects += [
        (owner, "directory.Organization", pk, name)
        for pk, name in Organization.objects.filter(owner=user).values_list("pk", "name")
    ]
    objects += [
        (
            DirectoryEventKind.ACCOUNT_ADMIN_CHANGE if kind == AccountType.APPLICATION else owner,
            "directory.Account",
            pk,
            f"{ident}@{code} ({kind.lower()})",
        )
        for pk, ident, code, kind in Account.objects.filter(responsible=user)
        .exclude(status=AccountStatus.REVOKED)
        .values_list("pk", "identifier", "resource__code", "account_type")
    ]
    already = set(
        DirectoryEvent.objects.filter(
            user=user,
            status=DirectoryEventStatus.OPEN,
            kind__in=(DirectoryEventKind.OWNER_CHANGE, DirectoryEventKind.ACCOUNT_ADMIN_CHANGE),
        ).values_list("object_type", "object_id")
    )
    objects = [o for o in objects if (o[1], str(o[2])) not in already]
    if not objects:
        return 0
    events = DirectoryEvent.objects.bulk_create(
        [
            DirectoryEvent(
                kind=kind,
                user=user,
                user_repr=label,
                object_type=otype,
                object_id=str(pk),
                object_repr=orepr[:300],
                detail=(
                    f"{label} was {why}: choose a new administrator for this application account, "
                    "or keep it (continuity)."
                    if kind == DirectoryEventKind.ACCOUNT_ADMIN_CHANGE
                    else f"{label} was {why}: choose a new owner / responsible for this object, "
                    "or keep it (continuity)."
                ),
            )
            for kind, otype, pk, orepr in objects
        ]
    )
    audit_record_many(
        (
            AuditEntry(
                action="directory_event.owner_change"
                if e.kind == DirectoryEventKind.OWNER_CHANGE
                else "directory_event.account_admin_change",
                object_type=e.object_type,
                object_id=e.object_id,
                object_repr=e.object_repr,
                new={"event_id": e.pk, "former_owner": user.username, "reason": why},
                subject_user_id=user.pk,
            )
            for e in events
        ),
        actor=actor,
        source=source,
    )
    return len(events)


def _shared_member_review_events(*, actor: User | None, source: str, user: User, why: str) -> int:
    """The inactivation's part for shared accounts (seed 002, "Inativação"): the user stays a
    member for now and an event asks someone to remove them or keep them (continuity)."""
    label = user.get_full_name() or user.username
    already = set(
        DirectoryEvent.objects.filter(
            user=user, status=DirectoryEventStatus.OPEN, kind=DirectoryEventKind.SHARED_MEMBER_REVIEW
        ).values_list("object_id", flat=True)
    )
    shared = [
        row
        for row in SharedAccountMember.objects.filter(user=user).values_list(
            "account_id", "account__identifier", "account__resource__code"
        )
        if str(row[0]) not in already
    ]
    if not shared:
        return 0
    events = DirectoryEvent.objects.bulk_create(
        [
            DirectoryEvent(
                kind=DirectoryEventKind.SHARED_MEMBER_REVIEW,
                user=user,
                user_repr=label,
                object_type="directory.Account",
                object_id=str(acc_id),
                object_repr=f"{ident}@{code}",
                detail=f"{label} was {why} and is still a member of this shared account: remove them "
                "(the password will have to be rotated) or keep them (continuity).",
            )
            for acc_id, ident, code in shared
        ]
    )
    audit_record_many(
        (
            AuditEntry(
                action="directory_event.shared_member_review",
                object_type=e.object_type,
                object_id=e.object_id,
                object_repr=e.object_repr,
                new={"event_id": e.pk, "member": user.username, "reason": why},
                subject_user_id=user.pk,
            )
            for e in events
        ),
        actor=actor,
        source=source,
    )
    return len(events)


def _shared_memberships_remove(*, actor: User | None, source: str, user: User, why: str) -> int:
    """Take the user out of every shared account and raise a password-rotation alert for each:
    the user knows the current password."""
    label = user.get_full_name() or user.username
    # a remove-or-keep question from an earlier inactivation is answered by this removal
    DirectoryEvent.objects.filter(
        user=user, status=DirectoryEventStatus.OPEN, kind=DirectoryEventKind.SHARED_MEMBER_REVIEW
    ).update(status=DirectoryEventStatus.CANCELED, closed_at=timezone.now())
    shared = list(
        SharedAccountMember.objects.filter(user=user).values_list(
            "pk", "account_id", "account__identifier", "account__resource__code"
        )
    )
    if not shared:
        return 0
    SharedAccountMember.objects.filter(pk__in=[row[0] for row in shared]).delete()
    DirectoryEvent.objects.bulk_create(
        [
            DirectoryEvent(
                kind=DirectoryEventKind.SHARED_MEMBER_REMOVED,
                user=user,
                user_repr=label,
                object_type="directory.Account",
                object_id=str(acc_id),
                object_repr=f"{ident}@{code}",
                detail=f"{label} was {why} and removed from this shared account: rotate its password.",
            )
            for _pk, acc_id, ident, code in shared
        ]
    )
    audit_record_many(
        (
            AuditEntry(
                action="shared_account.member_removed",
                object_type="directory.Account",
                object_id=acc_id,
                object_repr=f"{ident}@{code}",
                old={"member": user.username},
                new={"reason": why, "rotation_alert_opened": True},
                subject_user_id=user.pk,
            )
            for _pk, acc_id, ident, code in shared
        ),
        actor=actor,
        source=source,
    )
    return len(shared)


def _release_checkouts(*, actor: User | None, source: str, user: User, why: str) -> int:
    """Credentials the user holds checked out of the vault, given back (the vault listens)."""
    released = ports.user_leaving(actor=actor, source=source, user=user, reason=f"user {why}")
    return released.get("checkouts_released", 0)
