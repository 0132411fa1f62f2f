"""``manage.py run_relay``: the outbox relay and the stuck-work sweep in a loop, for the embedded
mode (``./bin/run`` starts it beside the web server; production has Celery beat for this).
``--once`` runs one relay and one sweep and exits."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from blazon.outbox.services import outbox_prune, outbox_relay, work_sweep

logger = logging.getLogger("blazon.outbox")


class Command(BaseCommand):
    help = "Run the outbox relay and the stuck-work sweep (embedded mode); --once for one round."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one relay and one sweep, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        relay_every = float(settings.BLAZON_OUTBOX_RELAY_SECONDS)
        sweep_every = float(settings.BLAZON_SWEEP_SECONDS)
        next_sweep = 0.0
        while True:
            close_old_connections()
            try:
                relayed = outbox_relay()
                if time.monotonic() >= next_sweep:
                    swept = work_sweep()
                    swept["pruned"] = outbox_prune()
                    next_sweep = time.monotonic() + sweep_every
                    if options["once"]:
                        self.stdout.write(f"relayed {relayed}; swept {swept}")
            except Exception:  # the database restarting, say: try again next round
                logger.exception("relay round failed")
            if options["once"]:
                return
            time.sleep(relay_every)
