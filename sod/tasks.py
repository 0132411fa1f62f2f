"""Celery tasks of SoD: thin wrappers that call a service."""

from __future__ import annotations

from blazon.tasks import blazon_task


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def scan_violations() -> dict[str, int]:
    """The detective SoD scan (periodic). Idempotent: a second run finds the same violations
    and changes nothing."""
    from sod.services.scan import sod_scan

    return sod_scan().as_dict()
