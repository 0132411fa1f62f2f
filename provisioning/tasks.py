"""Celery tasks of provisioning: thin wrappers that call a service; safe to run twice."""

from __future__ import annotations

from blazon.tasks import blazon_task


@blazon_task()
def open_manual_tasks() -> int:
    """Open the PROVISIONING tasks of MANUAL entries written since (after commit, and as a
    periodic sweep for anything missed). Idempotent: an entry that has its task is skipped."""
    # deferred: provisioning's services import this module to enqueue its tasks (a cycle at load)
    from provisioning.services.manual_mode import manual_entries_open_tasks

    return manual_entries_open_tasks()
