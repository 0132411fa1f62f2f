"""``manage.py status``: what an operator asks first when something seems stuck — the readiness
checks, the broker's queue depths, the outbox (pending, due, dead-lettered, lag), intermediate
work older than it should be, the work counters, and each registered component's health
(resource adapters: when they last pulled, how many entries wait for them).

Exit status 0 when ready, 1 otherwise (usable in a cron job or a container health check)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from blazon.celery import app
from blazon.health import readiness
from blazon.outbox.registry import probes
from blazon.outbox.services import counters, outbox_state, stuck_after_seconds, stuck_work


def queue_depths() -> dict[str, int] | None:
    """Messages waiting in each Celery queue (Redis broker), None in in-process mode."""
    if app.conf.task_always_eager:
        return None
    names = {app.conf.task_default_queue or "celery"} | {q.name for q in (app.conf.task_queues or [])}
    depths: dict[str, int] = {}
    with app.connection_for_read() as conn:
        client = conn.default_channel.client
        for name in sorted(names):
            depths[name] = int(client.llen(name))
    return depths


class Command(BaseCommand):
    help = "Print queue depths, outbox lag, stuck work and adapter health; exit 1 when not ready."

    def handle(self, *args: Any, **options: Any) -> None:
        out = self.stdout.write
        checks = readiness()
        out("Readiness")
        for c in checks:
            out(f"  {c.name:<10} {'ok  ' if c.ok else 'FAIL'} {c.detail}")
        out("Queues")
        try:
            depths = queue_depths()
            if depths is None:
                out("  none: tasks run in-process (embedded mode)")
            else:
                for name, n in depths.items():
                    out(f"  {name:<24} {n} message(s) waiting")
        except Exception as exc:
            out(f"  unavailable: {type(exc).__name__}: {exc}")
        if checks[0].ok:
            state = outbox_state()
            out("Outbox")
            out(
                f"  {state.pending} pending ({state.due} due now), {state.dead} dead-lettered, "
                f"lag {state.lag_seconds:.0f}s"
            )
            out(f"Stuck work (older than {stuck_after_seconds()}s)")
            for work in stuck_work():
                out(f"  {work.label:<60} {work.count}")
            out("Counters")
            for name, value in counters().items():
                out(f"  {name:<40} {value}")
            for name, probe in probes().items():
                out(name)
                try:
                    for line in probe():
                        out(f"  {line}")
                except Exception as exc:
                    out(f"  unavailable: {type(exc).__name__}: {exc}")
        if not all(c.ok for c in checks):
            raise SystemExit(1)
