"""Celery task of SIEM forwarding (periodic)."""

from __future__ import annotations

from blazon.tasks import blazon_task
from siem.forwarder import forward_all


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def forward_audit_events() -> dict[str, int]:
    """Forward the audit log to every enabled SIEM destination (each under its lock, from its
    cursor). Idempotent: a second run at the same time skips the locked destinations, a run
    after a crash resends at most the batch whose cursor was not saved."""
    results = forward_all()
    return {r.destination: r.sent for r in results}
