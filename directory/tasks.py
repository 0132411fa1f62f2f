"""Celery tasks of the directory: thin wrappers that reload by id and call a service."""

from __future__ import annotations

from blazon.tasks import blazon_task


@blazon_task()
def apply_role_change(role_change_id: int) -> str:
    """Apply a role change (fan-out to every member); safe to run twice."""
    from directory.services.access import role_change_apply

    return role_change_apply(role_change_id=role_change_id).status
