"""Run the in-process adapters (embedded default): execute the AUTOMATIC entries of every
resource that has one, with the adapter runtime and connectors, until SIGTERM/SIGINT.

    python manage.py run_adapters [--once] [--poll-seconds 2]

``bin/run`` starts it next to the web server. See docs/adapters.md, "In-process runner".
"""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand, CommandParser

from provisioning.runner import Runner


class Command(BaseCommand):
    help = "Execute the AUTOMATIC entries of resources with an in-process adapter (loop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one round, then exit")
        parser.add_argument(
            "--poll-seconds", type=float, default=2.0, help="pause when there was nothing to do"
        )

    def handle(self, *args, **options) -> None:
        if options["poll_seconds"] < 0.1:
            self.stderr.write("--poll-seconds must be at least 0.1")
            raise SystemExit(2)
        runner = Runner(poll_seconds=options["poll_seconds"])

        def _stop(signum: int, frame: object) -> None:
            runner.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        try:
            runner.run(iterations=1 if options["once"] else None)
        finally:
            runner.close()
