"""User and account life cycle (seed 002 "Ciclo de vida do usuário", "Contas").

A user is ACTIVE, INACTIVE, REVOKED or REMOVED; each move is allowed only from the sources the
seed's table lists (``rules``), and carries a cascade over everything the user has (``cascade``):
regular and temporary accounts, role memberships, shared-account memberships, ownerships and
check-outs. ``users`` holds the user transitions and the login lock (separate from the status),
``accounts`` the account transitions, ``periodic`` the scheduled jobs. Cascades are set-based: a
handful of statements per user whatever the number of accounts.

The names below are re-exported for one release; import them from their module.
"""

from directory.services.lifecycle.accounts import (
    ACCOUNT_TRANSITIONS,
    account_access_snapshot,
    account_activate,
    account_inactivate,
    account_restore_revoked,
    account_revoke,
)
from directory.services.lifecycle.events import (
    DECISIONS,
    directory_event_capability,
    directory_event_resolve,
)
from directory.services.lifecycle.periodic import (
    accounts_expire_temporary,
    users_auto_remove_revoked,
    users_auto_revoke_inactive,
    users_purge_removed,
)
from directory.services.lifecycle.rules import (
    ACCOUNT_ACTION_FROM,
    OWNER_EVENT_KINDS,
    ROLE_MANAGED_REVOKE_SOURCES,
    USER_ACTION_TARGETS,
    USER_TRANSITIONS,
    account_actions_allowed,
    user_actions_allowed,
    user_transition_check,
)
from directory.services.lifecycle.users import (
    user_activate,
    user_inactivate,
    user_lock,
    user_remove,
    user_revoke,
    user_unlock,
)

__all__ = [
    "ACCOUNT_ACTION_FROM",
    "ACCOUNT_TRANSITIONS",
    "DECISIONS",
    "OWNER_EVENT_KINDS",
    "ROLE_MANAGED_REVOKE_SOURCES",
    "USER_ACTION_TARGETS",
    "USER_TRANSITIONS",
    "account_access_snapshot",
    "account_actions_allowed",
    "account_activate",
    "account_inactivate",
    "account_restore_revoked",
    "account_revoke",
    "accounts_expire_temporary",
    "directory_event_capability",
    "directory_event_resolve",
    "user_actions_allowed",
    "user_activate",
    "user_inactivate",
    "user_lock",
    "user_remove",
    "user_revoke",
    "user_transition_check",
    "user_unlock",
    "users_auto_remove_revoked",
    "users_auto_revoke_inactive",
    "users_purge_removed",
]
