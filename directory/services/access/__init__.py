"""Accesses: accounts, entitlement memberships, role memberships, and role changes with their
fan-out to members (seed 002 "Contas", "Direitos", "Papéis"; seed 004).

One module per action: ``accounts`` (create, update, remove), ``memberships`` (grant, revoke an
entitlement), ``shared`` (members of shared accounts), ``roles`` (grant, revoke a role, and why
an access exists), ``role_changes`` (items added to or removed from a role).
Role- and policy-managed objects cannot be revoked manually: the role (or the policy) decides.

The names below are re-exported for one release; import them from their module.
"""

from directory.services.access.accounts import account_create, account_remove, account_update
from directory.services.access.memberships import membership_grant, membership_revoke
from directory.services.access.role_changes import role_change_apply, role_change_preview, role_change_submit
from directory.services.access.roles import role_grant, role_memberships_revoke_for_user, role_revoke, why
from directory.services.access.shared import shared_member_add, shared_member_remove

__all__ = [
    "account_create",
    "account_remove",
    "account_update",
    "membership_grant",
    "membership_revoke",
    "role_change_apply",
    "role_change_preview",
    "role_change_submit",
    "role_grant",
    "role_memberships_revoke_for_user",
    "role_revoke",
    "shared_member_add",
    "shared_member_remove",
    "why",
]
