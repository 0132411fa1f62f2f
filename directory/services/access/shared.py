"""Members of SHARED accounts: the users who know the account's password."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, ValidationFailed
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    DirectoryEvent,
    DirectoryEventKind,
    SharedAccountMember,
    User,
    UserStatus,
)


@transaction.atomic
def shared_member_add(
    *, actor: User | None, source: str, account: Account, user: User
) -> SharedAccountMember:
    """Let ``user`` use the SHARED ``account`` (they will know its password). Only ACTIVE
    users join; a revoked account takes no one."""
    account = Account.objects.select_for_update(of=("self",)).select_related("resource").get(pk=account.pk)
    if account.account_type != AccountType.SHARED:
        raise ValidationFailed(
            gettext("%(account)s is a %(account_type)s account; only shared accounts have members.")
            % {"account": account, "account_type": account.get_account_type_display().lower()},
            fields={"account": [gettext("Not a shared account.")]},
        )
    if account.status == AccountStatus.REVOKED:
        raise Conflict(
            gettext("%(account)s is revoked: it takes no new members.") % {"account": account},
            fields={"account": [gettext("Revoked.")]},
        )
    user = User.objects.get(pk=user.pk)
    if user.status != UserStatus.ACTIVE:
        raise ValidationFailed(
            gettext("%(username)s is %(status)s: only ACTIVE users can be members of a shared account.")
            % {"username": user.username, "status": user.status},
            fields={"user": [gettext("The user is %(status)s, not ACTIVE.") % {"status": user.status}]},
        )
    if SharedAccountMember.objects.filter(account=account, user=user).exists():
        raise Conflict(
            gettext("%(username)s is already a member of %(account)s.")
            % {"username": user.username, "account": account},
            fields={"user": [gettext("Already a member.")]},
        )
    try:
        with transaction.atomic():
            member = SharedAccountMember.objects.create(account=account, user=user)
    except IntegrityError as exc:  # a concurrent addition won the race
        raise Conflict(
            gettext("%(username)s is already a member of %(account)s.")
            % {"username": user.username, "account": account}
        ) from exc
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
    locked = (
        SharedAccountMember.objects.select_for_update(of=("self",))
        .select_related("account__resource", "user")
        .filter(pk=member.pk)
        .first()
    )
    if locked is None:
        raise Conflict(gettext("This member was already removed from the shared account."))
    member = locked
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
