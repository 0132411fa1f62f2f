"""User transitions (activate, inactivate, revoke, remove) with their cascades, and the login
lock, which is separate from the status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import AuditEntry, audit_record, audit_record_many
from blazon.errors import TransitionNotAllowed
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    DirectoryEvent,
    DirectoryEventStatus,
    RoleMembership,
    User,
)
from directory.services.access.roles import role_memberships_revoke_for_user
from directory.services.lifecycle.cascade import (
    _OWNED,
    _cascade_accounts,
    _drop_entitlements_of,
    _owner_change_events,
    _release_checkouts,
    _shared_member_review_events,
    _shared_memberships_remove,
)
from directory.services.lifecycle.rules import (
    ACT,
    INA,
    OWNER_EVENT_KINDS,
    REM,
    REV,
    _check_source,
    _lock_user,
    _sync,
    user_transition_check,
)
from directory.signals import user_access_ended


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
    provisioning entries), administrative check-outs are released, and follow-up events are
    opened (seed 002, "Inativação"): owner change for what the user owns or is responsible for,
    administrator change for application accounts, remove-or-keep for shared accounts."""
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
    owner_events = _owner_change_events(actor=actor, source=source, user=fresh, why="inactivated")
    shared_events = _shared_member_review_events(actor=actor, source=source, user=fresh, why="inactivated")
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
            "owner_change_events": owner_events,
            "shared_member_events": shared_events,
        },
        source=source,
        subject_user_id=fresh.pk,
    )
    return _sync(user, fresh)


def _revoke_cascade(*, actor: User | None, source: str, user: User, now: datetime) -> dict[str, int]:
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
            gettext("User %(username)s is REMOVED: the login lock cannot be changed.")
            % {"username": fresh.username},
            code="user_removed",
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
