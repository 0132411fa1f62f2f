"""Celery tasks of the outbox: deliver one row, relay due rows, sweep stuck work (periodic).
They are plain project tasks, not outbox work themselves (``outbox=False``)."""

from __future__ import annotations

from blazon.outbox import services
from blazon.tasks import blazon_task


@blazon_task(services.DELIVER_TASK, outbox=False, max_retries=10)
def deliver(message_id: int) -> str:
    """Run one outbox row's handler (once: a second delivery finds it done)."""
    return services.outbox_deliver(message_id=message_id)


@blazon_task("blazon.outbox.relay", outbox=False)
def relay() -> int:
    """Hand out again the rows whose delivery did not complete in time (periodic)."""
    return services.outbox_relay()


@blazon_task("blazon.outbox.sweep", outbox=False)
def sweep() -> dict[str, int]:
    """Re-drive stuck intermediate work; drop completed rows past their keep time (periodic)."""
    done = services.work_sweep()
    done["pruned"] = services.outbox_prune()
    return done
