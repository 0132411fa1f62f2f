"""Which rotation policies cover an account, and the rotation after a check-out (the access flow
and the rotation services both need them)."""

from __future__ import annotations

from typing import Any

from directory.models import Account, AccountType
from privileged.models import RotationPolicy
from vault.services import account_password_rotate


def policies_for(account: Account, **flags: bool) -> list[RotationPolicy]:
    """The active policies that cover ``account`` (and have ``flags`` set)."""
    return [
        p
        for p in RotationPolicy.objects.filter(active=True, account_type=account.account_type, **flags)
        if p.resource_id in (None, account.resource_id)
    ]


def rotate_after_checkout(*, actor: Any, source: str, account: Account) -> dict[str, Any] | None:
    """After a check-out ended: an application account under an ``after_checkout`` policy is
    rotated too (an administrative one already is, by the vault's check-out)."""
    if account.account_type != AccountType.APPLICATION or not policies_for(account, after_checkout=True):
        return None
    return account_password_rotate(
        actor=actor, source=source, account=account, reason="rotation policy: after check-out"
    )
