"""User and account life cycle (seed 002 "Ciclo de vida do usuário", "Contas").

A user is ACTIVE, INACTIVE, REVOKED or REMOVED; each move is allowed only from the sources the
seed's table lists, and carries a cascade over everything the user has: regular and temporary
accounts, role memberships, shared-account memberships, ownerships and check-outs. The login
lock is separate from the status. Cascades are set-based: a handful of statements per user
whatever the number of accounts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import PROTECT, RESTRICT
from django.db.models.functions import Coalesce
from django.utils import timezone

from blazon.audit.services import AuditEntry, audit_record, audit_record_many
from blazon.errors import Conflict, DomainError, TransitionNotAllowed
from blazon.logging import correlation_id_var
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
    ProvisioningMode,
    Resource,
    Role,
    RoleMembership,
    SharedAccountMember,
    Source,
    User,
    UserStatus,
)
from directory.signals import user_access_ended
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services import entry_links, entry_write

ACT, INA, REV, REM = UserStatus.ACTIVE, UserStatus.INACTIVE, UserStatus.REVOKED, UserStatus.REMOVED
S = Source

#: The seed's transition table: (from, to) -> the sources allowed to make that move.
#: "Manual" is the admin console and the API (an administrator's integration); the workspace
#: may activate or revoke (the responsible user, seed: "via Workspace, pelo usuário responsável").
USER_TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (ACT, INA): frozenset({S.CONSOLE, S.API, S.IMPORT, S.RECONCILIATION}),
    (ACT, REV): frozenset({S.CONSOLE, S.API, S.WORKSPACE, S.IMPORT, S.RECONCILIATION}),
    (ACT, REM): frozenset({S.CONSOLE, S.API, S.IMPORT}),
    (INA, ACT): frozenset({S.CONSOLE, S.API, S.WORKSPACE, S.IMPORT, S.RECONCILIATION}),
    (INA, REV): frozenset({S.CONSOLE, S.API, S.WORKSPACE, S.IMPORT, S.RECONCILIATION, S.AUTOMATIC}),
    (INA, REM): frozenset({S.CONSOLE, S.API, S.IMPORT}),
    (REV, REM): frozenset({S.CONSOLE, S.API, S.IMPORT, S.AUTOMATIC}),
}

#: Role-managed accounts are revoked by their roles, never by hand; only these sources (an
#: automatic job, reconciliation finding the account gone) may revoke one directly.
ROLE_MANAGED_REVOKE_SOURCES = frozenset({S.AUTOMATIC, S.RECONCILIATION})

OWNER_EVENT_KINDS = (DirectoryEventKind.OWNER_CHANGE, DirectoryEventKind.ACCOUNT_ADMIN_CHANGE)


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _check_source(source: str) -> None:
    if source not in Source.values:
        raise TransitionNotAllowed(
            f"Unknown source {source!r}: use one of {', '.join(Source.values)}.",
            fields={"source": ["Unknown."]},
        )


def user_transition_check(*, user: User, to: str, source: str) -> bool:
    """Raise TransitionNotAllowed unless ``user`` may move to ``to`` from ``source``; False
    when the user is already there (nothing to do)."""
    _check_source(source)
    frm = user.status
    if frm == to:
        return False
    allowed = USER_TRANSITIONS.get((frm, to))
    if allowed is None:
        final = " REMOVED is final." if frm == REM else ""
        raise TransitionNotAllowed(
            f"User {user.username} cannot go from {frm} to {to} (source {source}).{final}",
            fields={"status": [f"{frm} → {to} is not a life-cycle transition."]},
        )
    if source not in allowed:
        raise TransitionNotAllowed(
            f"User {user.username} cannot go from {frm} to {to} from source {source}; "
            f"allowed sources: {', '.join(sorted(allowed))}.",
            fields={"source": [f"Not allowed for {frm} → {to}."]},
        )
    return True


def _lock_user(user: User) -> User:
    return User.objects.select_for_update().get(pk=user.pk)


def _sync(target: User, fresh: User) -> User:
    """Reflect the new state on the caller's instance too (views keep using it)."""
    for f in ("status", "login_locked", "inactive_since", "revoked_at", "removed_at", "status_changed_at"):
        setattr(target, f, getattr(fresh, f))
    return fresh


# ---------------------------------------------------------------------------------------------
# Set-based account transitions (the cascades and the periodic jobs)
# ---------------------------------------------------------------------------------------------


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
    """One provisioning entry per account whose resource provisions ``event_type`` (AUTOMATIC or
    MANUAL), across resources in one insert.

    ``provisioning.services.entries_write_many`` takes a single resource; a user's accounts are
    on as many resources as they have accounts, so calling it per resource would cost one query
    per account. Same row shape and rules as that writer."""
    now = timezone.now()
    cid = correlation_id_var.get() or ""
    links = entry_links()  # the request being carried out, if any
    batch = []
    for row in rows:
        mode = row.modes.get(event_type, ProvisioningMode.DISABLED)
        if mode == ProvisioningMode.DISABLED:
            continue
        batch.append(
            ProvisioningEntry(
                resource_id=row.resource_id,
                event_type=event_type,
                mode=mode,
                status=EntryStatus.PENDING,
                account_id=row.id,
                user_id_ref=row.owner_id,
                payload={"reason": reason, "identifier": row.identifier},
                correlation_id=cid,
                **links,
                created_at=now,
            )
        )
    if batch:
        ProvisioningEntry.objects.bulk_create(batch, batch_size=5000)
    return len(batch)


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

_EVENT = {
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
    """One OWNER_CHANGE event per resource, entitlement, role, organization and non-nominal
    account (application, shared, administrative) the user owns or is responsible for."""
    label = user.get_full_name() or user.username
    objects: list[tuple[str, int, str]] = []
    objects += [
        ("directory.Resource", pk, name)
        for pk, name in Resource.objects.filter(owners=user).values_list("pk", "name")
    ]
    objects += [
        ("directory.Entitlement", pk, f"{name} ({code})")
        for pk, name, code in Entitlement.objects.filter(owner=user).values_list(
            "pk", "name", "resource__code"
        )
    ]
    objects += [
        ("directory.Role", pk, name) for pk, name in Role.objects.filter(owner=user).values_list("pk", "name")
    ]
    objects += [
        ("directory.Organization", pk, name)
        for pk, name in Organization.objects.filter(owner=user).values_list("pk", "name")
    ]
    objects += [
        ("directory.Account", pk, f"{ident}@{code} ({kind.lower()})")
        for pk, ident, code, kind in Account.objects.filter(responsible=user)
        .exclude(status=AccountStatus.REVOKED)
        .values_list("pk", "identifier", "resource__code", "account_type")
    ]
    if not objects:
        return 0
    events = DirectoryEvent.objects.bulk_create(
        [
            DirectoryEvent(
                kind=DirectoryEventKind.OWNER_CHANGE,
                user=user,
                user_repr=label,
                object_type=otype,
                object_id=str(pk),
                object_repr=orepr[:300],
                detail=f"{label} was {why}: choose a new owner / responsible for this object.",
            )
            for otype, pk, orepr in objects
        ]
    )
    audit_record_many(
        (
            AuditEntry(
                action="directory_event.owner_change",
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


def _shared_memberships_remove(*, actor: User | None, source: str, user: User, why: str) -> int:
    """Take the user out of every shared account and raise a password-rotation alert for each:
    the user knows the current password."""
    label = user.get_full_name() or user.username
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
    from vault.services import checkouts_release_for_user

    return checkouts_release_for_user(actor=actor, source=source, user=user, reason=f"user {why}")


# ---------------------------------------------------------------------------------------------
# User transitions
# ---------------------------------------------------------------------------------------------


def _user_set_status(user: User, to: str, now: datetime, **fields: Any) -> None:
    User.objects.filter(pk=user.pk).update(status=to, status_changed_at=now, **fields)
    user.status, user.status_changed_at = to, now
    for name, value in fields.items():
        setattr(user, name, value)


def _access_ended(*, actor: User | None, source: str, user: User, reason: str) -> None:
    """Tell the session controls (``directory.signals``) that ``user`` may no longer log in, in
    this transaction: their open web sessions end."""
    user_access_ended.send(sender=User, user=user, reason=reason, actor=actor, source=source)


@transaction.atomic
def user_activate(*, actor: User | None, source: str, user: User) -> User:
    """INACTIVE → ACTIVE: the user's regular (and unexpired temporary) accounts are reactivated
    and open owner-change events about them are canceled."""
    fresh = _lock_user(user)
    if not user_transition_check(user=fresh, to=ACT, source=source):
        return _sync(user, fresh)
    old, now = fresh.status, timezone.now()
    accounts, entries = _cascade_accounts(
        f"{_OWNED} AND x.status = %s AND NOT (x.is_temporary AND x.expires_at <= %s)",
        [fresh.pk, AccountStatus.INACTIVE, now],
        to=AccountStatus.ACTIVE,
        actor=actor,
        source=source,
        reason="user activated",
        now=now,
    )
    canceled = DirectoryEvent.objects.filter(
        user=fresh, kind__in=OWNER_EVENT_KINDS, status=DirectoryEventStatus.OPEN
    ).update(status=DirectoryEventStatus.CANCELED, closed_at=now)
    _user_set_status(fresh, ACT, now, inactive_since=None)
    audit_record(
        actor=actor,
        action="user.activated",
        obj=fresh,
        old={"status": old},
        new={
            "status": ACT,
            "accounts_activated": accounts,
            "provisioning_entries": entries,
            "owner_events_canceled": canceled,
        },
        source=source,
        subject_user_id=fresh.pk,
    )
    return _sync(user, fresh)


@transaction.atomic
def user_inactivate(*, actor: User | None, source: str, user: User) -> User:
    """ACTIVE → INACTIVE: the user's regular and temporary accounts are inactivated (with
    provisioning entries) and administrative check-outs are released."""
    fresh = _lock_user(user)
    if not user_transition_check(user=fresh, to=INA, source=source):
        return _sync(user, fresh)
    old, now = fresh.status, timezone.now()
    accounts, entries = _cascade_accounts(
        f"{_OWNED} AND x.status = %s",
        [fresh.pk, AccountStatus.ACTIVE],
        to=AccountStatus.INACTIVE,
        actor=actor,
        source=source,
        reason="user inactivated",
        now=now,
    )
    checkouts = _release_checkouts(actor=actor, source=source, user=fresh, why="inactivated")
    _user_set_status(fresh, INA, now, inactive_since=now)
    _access_ended(actor=actor, source=source, user=fresh, reason="user inactivated")
    audit_record(
        actor=actor,
        action="user.inactivated",
        obj=fresh,
        old={"status": old},
        new={
            "status": INA,
            "accounts_inactivated": accounts,
            "provisioning_entries": entries,
            "checkouts_released": checkouts,
        },
        source=source,
        subject_user_id=fresh.pk,
    )
    return _sync(user, fresh)


def _revoke_cascade(*, actor: User | None, source: str, user: User, now: datetime) -> dict[str, int]:
    from directory.services.access import role_memberships_revoke_for_user

    # Roles first: they revoke what they alone keep, with their own audit and entries.
    roles = role_memberships_revoke_for_user(actor=actor, source=source, user=user)
    accounts, entries = _cascade_accounts(
        f"{_OWNED} AND x.status <> %s",
        [user.pk, AccountStatus.REVOKED],
        to=AccountStatus.REVOKED,
        actor=actor,
        source=source,
        reason="user revoked",
        now=now,
    )
    return {
        "role_memberships_revoked": roles,
        "accounts_revoked": accounts,
        "provisioning_entries": entries,
        "owner_change_events": _owner_change_events(actor=actor, source=source, user=user, why="revoked"),
        "shared_memberships_removed": _shared_memberships_remove(
            actor=actor, source=source, user=user, why="revoked"
        ),
        "checkouts_released": _release_checkouts(actor=actor, source=source, user=user, why="revoked"),
    }


@transaction.atomic
def user_revoke(*, actor: User | None, source: str, user: User) -> User:
    """ACTIVE/INACTIVE → REVOKED: every access goes (roles, regular and temporary accounts,
    shared-account memberships with a rotation alert, check-outs) and owner-change events are
    raised for everything the user owns."""
    fresh = _lock_user(user)
    if not user_transition_check(user=fresh, to=REV, source=source):
        return _sync(user, fresh)
    old, now = fresh.status, timezone.now()
    summary = _revoke_cascade(actor=actor, source=source, user=fresh, now=now)
    _user_set_status(fresh, REV, now, revoked_at=now)
    _access_ended(actor=actor, source=source, user=fresh, reason="user revoked")
    audit_record(
        actor=actor,
        action="user.revoked",
        obj=fresh,
        old={"status": old},
        new={"status": REV, **summary},
        source=source,
        subject_user_id=fresh.pk,
    )
    return _sync(user, fresh)


@transaction.atomic
def user_remove(*, actor: User | None, source: str, user: User, without_revoke: bool = False) -> User:
    """→ REMOVED (final; the user is purged from the directory after the retention period).

    A user not yet revoked is revoked first (full cascade with provisioning). With
    ``without_revoke=True`` only the directory changes: the user's accounts and role
    memberships are deleted from Blazon and NO provisioning entry is written, so the accesses
    stay alive in the applications (they show up as orphans at the next reconciliation)."""
    fresh = _lock_user(user)
    if not user_transition_check(user=fresh, to=REM, source=source):
        return _sync(user, fresh)
    old, now = fresh.status, timezone.now()
    summary: dict[str, Any] = {"without_revoke": bool(without_revoke and old != REV)}
    if old != REV and not without_revoke:
        summary.update(_revoke_cascade(actor=actor, source=source, user=fresh, now=now))
        _user_set_status(fresh, REV, now, revoked_at=now)
        _access_ended(actor=actor, source=source, user=fresh, reason="user revoked")
        audit_record(
            actor=actor,
            action="user.revoked",
            obj=fresh,
            old={"status": old},
            new={"status": REV, "reason": "removal", **summary},
            source=source,
            subject_user_id=fresh.pk,
        )
    elif old != REV:
        summary.update(_directory_only_removal(actor=actor, source=source, user=fresh))
    _user_set_status(fresh, REM, now, removed_at=now)
    _access_ended(actor=actor, source=source, user=fresh, reason="user removed")
    audit_record(
        actor=actor,
        action="user.removed",
        obj=fresh,
        old={"status": old},
        new={"status": REM, **summary},
        source=source,
        subject_user_id=fresh.pk,
    )
    return _sync(user, fresh)


def _directory_only_removal(*, actor: User | None, source: str, user: User) -> dict[str, int]:
    """Remove the user's accesses from Blazon's directory only: no provisioning entry."""
    accounts = list(
        Account.objects.filter(owner=user)
        .filter(models.Q(account_type=AccountType.REGULAR) | models.Q(is_temporary=True))
        .values_list("pk", "identifier", "status", "resource__code")
    )
    memberships = list(RoleMembership.objects.filter(user=user).values_list("pk", "role__code", "management"))
    ids = [a[0] for a in accounts]
    _drop_entitlements_of(ids)
    Account.objects.filter(pk__in=ids).delete()
    RoleMembership.objects.filter(user=user).delete()
    audit_record_many(
        [
            *(
                AuditEntry(
                    action="account.deleted_from_directory",
                    object_type="directory.Account",
                    object_id=pk,
                    object_repr=f"{ident}@{code}",
                    old={"status": status},
                    new={"reason": "user removed without revocation", "provisioned": False},
                    subject_user_id=user.pk,
                )
                for pk, ident, status, code in accounts
            ),
            *(
                AuditEntry(
                    action="role_membership.deleted_from_directory",
                    object_type="directory.RoleMembership",
                    object_id=pk,
                    object_repr=f"{user.username} ∈ {code}",
                    old={"role": code, "management": management},
                    new={"reason": "user removed without revocation", "provisioned": False},
                    subject_user_id=user.pk,
                )
                for pk, code, management in memberships
            ),
        ],
        actor=actor,
        source=source,
    )
    return {
        "accounts_deleted": len(accounts),
        "role_memberships_deleted": len(memberships),
        "provisioning_entries": 0,
        "owner_change_events": _owner_change_events(actor=actor, source=source, user=user, why="removed"),
        "shared_memberships_removed": _shared_memberships_remove(
            actor=actor, source=source, user=user, why="removed"
        ),
        "checkouts_released": _release_checkouts(actor=actor, source=source, user=user, why="removed"),
    }


# ---------------------------------------------------------------------------------------------
# Login lock (separate from the status)
# ---------------------------------------------------------------------------------------------


def _set_lock(*, actor: User | None, source: str, user: User, locked: bool) -> User:
    _check_source(source)
    fresh = _lock_user(user)
    if fresh.status == REM:
        raise TransitionNotAllowed(
            f"User {fresh.username} is REMOVED: the login lock cannot be changed.", code="user_removed"
        )
    if fresh.login_locked == locked:
        return _sync(user, fresh)
    User.objects.filter(pk=fresh.pk).update(login_locked=locked)
    fresh.login_locked = locked
    if locked:
        _access_ended(actor=actor, source=source, user=fresh, reason="login locked")
    audit_record(
        actor=actor,
        action="user.locked" if locked else "user.unlocked",
        obj=fresh,
        old={"login_locked": not locked},
        new={"login_locked": locked},
        source=source,
        subject_user_id=fresh.pk,
    )
    return _sync(user, fresh)


@transaction.atomic
def user_lock(*, actor: User | None, source: str, user: User) -> User:
    """Block the user's login; the status (and so the accounts) does not change."""
    return _set_lock(actor=actor, source=source, user=user, locked=True)


@transaction.atomic
def user_unlock(*, actor: User | None, source: str, user: User) -> User:
    """Allow the user to log in again (an ACTIVE user, that is); the status does not change."""
    return _set_lock(actor=actor, source=source, user=user, locked=False)


# ---------------------------------------------------------------------------------------------
# Account transitions
# ---------------------------------------------------------------------------------------------

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
            fields={"status": [f"{frm} → {to} is not allowed."]},
        )
    follows_owner = acc.owner_id is not None and (acc.account_type == AccountType.REGULAR or acc.is_temporary)
    now = timezone.now()
    if to == AccountStatus.ACTIVE:
        if follows_owner and acc.owner.status != UserStatus.ACTIVE:
            raise Conflict(
                f"Account {acc} follows its owner {acc.owner.username}, who is {acc.owner.status}: "
                "activate the user instead.",
                code="owner_not_active",
            )
        if acc.is_temporary and acc.expires_at and acc.expires_at <= now:
            raise Conflict(
                f"Temporary account {acc} expired on {acc.expires_at:%Y-%m-%d %H:%M}.", code="expired"
            )
    if to == AccountStatus.REVOKED and source not in ROLE_MANAGED_REVOKE_SOURCES:
        roles = sorted(Role.objects.filter(account_grants__account=acc).values_list("name", flat=True))
        if roles:
            raise Conflict(
                f"Account {acc} is managed by role(s) {', '.join(roles)} and cannot be revoked manually; "
                "remove the user from the role or the resource from the role.",
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
    entry = entry_write(
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


# ---------------------------------------------------------------------------------------------
# Periodic jobs
# ---------------------------------------------------------------------------------------------


def users_auto_revoke_inactive(*, days: int | None = None) -> int:
    """Revoke (source "automatic") users INACTIVE for more than ``days``
    (``BLAZON_AUTO_REVOKE_INACTIVE_DAYS``; 0 or less disables). Each user in their own
    transaction, so one refusal does not hold back the others. Returns the number revoked."""
    days = settings.BLAZON_AUTO_REVOKE_INACTIVE_DAYS if days is None else days
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    since = Coalesce("inactive_since", "status_changed_at", "date_joined")
    ids = list(
        User.objects.filter(status=INA)
        .annotate(since=since)
        .filter(since__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    done = 0
    for pk in ids:
        user = User(pk=pk)
        try:
            with transaction.atomic():
                fresh = User.objects.select_for_update().get(pk=pk)
                if fresh.status != INA:  # changed since we listed it
                    continue
                user_revoke(actor=None, source=S.AUTOMATIC, user=user)
                done += 1
        except DomainError:
            continue
    return done


def _protected_user_ids() -> list[models.QuerySet]:
    """Users other rows still need: PROTECT/RESTRICT foreign keys. (Audit events keep a purged
    actor's id and name untouched: that foreign key has no constraint and no cascade.)"""
    union: list[models.QuerySet] = []
    for rel in User._meta.related_objects:
        if rel.many_to_one or rel.one_to_one:
            if rel.on_delete in (PROTECT, RESTRICT):
                union.append(
                    rel.related_model._base_manager.filter(**{f"{rel.field.attname}__isnull": False}).values(
                        rel.field.attname
                    )
                )
    return union


def _protected_account_ids() -> list[models.QuerySet]:
    out = []
    for rel in Account._meta.related_objects:
        if (rel.many_to_one or rel.one_to_one) and rel.on_delete in (PROTECT, RESTRICT):
            out.append(
                rel.related_model._base_manager.filter(**{f"{rel.field.attname}__isnull": False}).values(
                    rel.field.attname
                )
            )
    return out


@transaction.atomic
def users_purge_removed(*, days: int | None = None) -> int:
    """Delete for good REMOVED users older than ``days`` (``BLAZON_PURGE_REMOVED_AFTER_DAYS``),
    with their accounts. Audit events stay. Users still referenced by protected rows, or who
    acted in the audit log, are kept (and stay REMOVED). Returns the number deleted."""
    days = settings.BLAZON_PURGE_REMOVED_AFTER_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=max(days, 0))
    candidates = User.objects.filter(status=REM, removed_at__lt=cutoff)
    for protected in _protected_user_ids():
        candidates = candidates.exclude(pk__in=protected)
    for protected in _protected_account_ids():
        candidates = candidates.exclude(accounts__pk__in=protected)
    victims = list(candidates.select_for_update(of=("self",)).values_list("pk", "username", "removed_at"))
    if not victims:
        return 0
    ids = [pk for pk, _u, _r in victims]
    audit_record_many(
        (
            AuditEntry(
                action="user.purged",
                object_type="directory.User",
                object_id=pk,
                object_repr=username,
                old={"status": REM, "removed_at": removed_at},
                subject_user_id=pk,
            )
            for pk, username, removed_at in victims
        ),
        actor=None,
        source=S.AUTOMATIC,
    )
    Account.objects.filter(owner_id__in=ids).delete()
    User.objects.filter(pk__in=ids).delete()
    return len(ids)


@transaction.atomic
def accounts_expire_temporary() -> int:
    """Revoke (source "automatic") temporary accounts past their expiry, with provisioning
    entries; returns the number revoked."""
    count, _entries = _cascade_accounts(
        "x.is_temporary AND x.expires_at <= %s AND x.status <> %s",
        [timezone.now(), AccountStatus.REVOKED],
        to=AccountStatus.REVOKED,
        actor=None,
        source=S.AUTOMATIC,
        reason="temporary account expired",
        now=timezone.now(),
    )
    return count
