"""Celery tasks of certification: thin wrappers that call a service."""

from __future__ import annotations

from dataclasses import asdict

from blazon.tasks import blazon_task
from certification.services.campaigns import certification_run


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def run_certification() -> dict[str, int]:
    """Finish the campaigns whose end has come and start those of the policies that are due.
    Idempotent: a second run finds nothing due (campaign status and ``next_run_at`` guard)."""
    return asdict(certification_run())
