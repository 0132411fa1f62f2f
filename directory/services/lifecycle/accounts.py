"""Account transitions (activate, inactivate, revoke) one account at a time."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from blazon.audit.services import audit_record
from blazon.errors import Conflict, TransitionNotAllowed
from directory import ports
from directory.models import Account, AccountStatus, AccountType, Management, Role, User, UserStatus
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
