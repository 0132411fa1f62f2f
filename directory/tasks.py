"""Celery tasks of the directory: thin wrappers that reload by id and call a service."""

from __future__ import annotations

from blazon.tasks import blazon_task


@blazon_task()
def apply_role_change(role_change_id: int) -> str:
    """Apply a role change (fan-out to every member). Idempotent: a DONE or FAILED change is
    left alone, one interrupted half-way (rolled back) is applied again."""
    # deferred: directory's services import this module to enqueue its tasks (a cycle at load)
    from directory.services.access.role_changes import role_change_apply

    return role_change_apply(role_change_id=role_change_id).status


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def auto_revoke_inactive_users() -> int:
    """Revoke users INACTIVE for longer than BLAZON_AUTO_REVOKE_INACTIVE_DAYS (periodic)."""
    # deferred: directory's services import this module to enqueue its tasks (a cycle at load)
    from directory.services.lifecycle.periodic import users_auto_revoke_inactive

    return users_auto_revoke_inactive()


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def auto_remove_revoked_users() -> int:
    """Remove users REVOKED for longer than BLAZON_AUTO_REMOVE_REVOKED_DAYS whose revocation
    the applications have settled (periodic)."""
    # deferred: directory's services import this module to enqueue its tasks (a cycle at load)
    from directory.services.lifecycle.periodic import users_auto_remove_revoked

    return users_auto_remove_revoked()


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def purge_removed_users() -> int:
    """Delete REMOVED users older than BLAZON_PURGE_REMOVED_AFTER_DAYS (periodic)."""
    # deferred: directory's services import this module to enqueue its tasks (a cycle at load)
    from directory.services.lifecycle.periodic import users_purge_removed

    return users_purge_removed()


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def expire_temporary_accounts() -> int:
    """Revoke temporary accounts past their expiry (periodic)."""
    # deferred: directory's services import this module to enqueue its tasks (a cycle at load)
    from directory.services.lifecycle.periodic import accounts_expire_temporary

    return accounts_expire_temporary()
