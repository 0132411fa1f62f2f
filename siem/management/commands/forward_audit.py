"""``manage.py forward_audit [--destination NAME] [--loop]``: forward the audit log to the SIEM
destinations now, once or as a daemon."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from siem.forwarder import forward_all
from siem.models import SiemDestination


class Command(BaseCommand):
    help = "Forward audit events to the SIEM destinations (once, or in a loop with --loop)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--destination", action="append", help="Only this destination (by name; repeatable)."
        )
        parser.add_argument(
            "--loop", action="store_true", help="Keep forwarding (a daemon); stop with SIGTERM."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between runs in --loop (BLAZON_SIEM_POLL_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names = options["destination"]
        if names:
            missing = sorted(
                set(names)
                - set(SiemDestination.objects.filter(name__in=names).values_list("name", flat=True))
            )
            if missing:
                raise CommandError(f"No SIEM destination named {', '.join(missing)}.")
        interval = (
            options["interval"] if options["interval"] is not None else settings.BLAZON_SIEM_POLL_SECONDS
        )
        while True:
            for r in forward_all(
                names=names, force=not options["loop"], max_seconds=None if options["loop"] else 1e9
            ):
                if r.error:
                    self.stderr.write(f"{r.destination}: not accepted, cursor at {r.cursor}: {r.error}")
                elif r.skipped:
                    self.stdout.write(f"{r.destination}: skipped ({r.skipped})")
                elif r.sent or not options["loop"]:
                    self.stdout.write(f"{r.destination}: {r.sent} event(s) sent, cursor at {r.cursor}")
            if not options["loop"]:
                return
            time.sleep(interval)
