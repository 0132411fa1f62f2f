"""One place that says what each internal administrative role may do. The console, the API and
the services ask ``can(user, capability)``; nothing else decides."""

from __future__ import annotations

from typing import Any

ADMINISTRATOR = "ADMINISTRATOR"
HELPDESK = "HELPDESK"
AUDITOR = "AUDITOR"

CAPABILITIES: dict[str, set[str]] = {
    # read the directory, the audit log, configuration
    "view": {ADMINISTRATOR, HELPDESK, AUDITOR},
    "view_audit": {ADMINISTRATOR, AUDITOR},
    # operate identities: create/update users, lifecycle transitions, lock/unlock, accounts
    "manage_users": {ADMINISTRATOR, HELPDESK},
    # configuration: organizations, resources, entitlements, roles, attributes, username policy
    "manage_config": {ADMINISTRATOR},
    # destructive or privileged
    "remove_users": {ADMINISTRATOR},
}


def role_of(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    if getattr(user, "status", "ACTIVE") != "ACTIVE" or getattr(user, "login_locked", False):
        return ""
    if user.is_superuser:
        return ADMINISTRATOR
    return getattr(user, "console_role", "") or ""


def can(user: Any, capability: str) -> bool:
    allowed = CAPABILITIES.get(capability)
    if allowed is None:
        raise KeyError(f"unknown capability {capability!r}")
    return role_of(user) in allowed


def may_set_password_of(actor: Any, user: Any) -> bool:
    """Whether ``actor`` may set or reset ``user``'s password. A console user's (an
    administrator's above all) only an administrator may: otherwise a help-desk operator could
    take over a more privileged role. ``actor`` None is the system itself."""
    if actor is None:
        return True
    target = (
        ADMINISTRATOR if getattr(user, "is_superuser", False) else (getattr(user, "console_role", "") or "")
    )
    return not target or role_of(actor) == ADMINISTRATOR
