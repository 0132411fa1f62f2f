"""Celery tasks of reconciliation: thin wrappers that call a service."""

from __future__ import annotations

from typing import Any

from blazon.tasks import blazon_task


@blazon_task(atomic=False, lease_seconds=3600)  # a run commits page by page
def execute_run(run_id: int) -> str:
    """Carry a run as far as it may go. Idempotent: a finished run is left alone, a run
    interrupted while applying resumes from its checkpoint without applying a row twice."""
    # deferred: the run services import this module to queue runs (a cycle at load)
    from reconciliation.services.runs import run_execute

    return str(run_execute(run_id).status)


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def start_scheduled_runs() -> dict[str, Any]:
    """Start the runs whose profile's schedule matches this minute (beat, every minute).
    Idempotent within the minute: a profile with a run started this minute is skipped."""
    # deferred: the run services import this module to queue runs (a cycle at load)
    from reconciliation.services.schedule import runs_start_due

    return {"started": runs_start_due()}
