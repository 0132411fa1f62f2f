"""Read the reply inbox once (or every ``--every`` seconds) and apply the approvers' e-mail
answers to privileged access requests (docs/privileged-access.md, "Answering by e-mail")."""

import imaplib
import time

from django.core.management.base import BaseCommand, CommandError

from privileged.inbox import inbox_poll, inbox_wait
from privileged.links import inbox_configured


class Command(BaseCommand):
    help = "Apply the APPROVE/DISAPPROVE e-mail replies waiting in the reply inbox."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=200, help="at most this many messages a run")
        parser.add_argument(
            "--every", type=int, default=0, metavar="SECONDS", help="keep running, reading every N seconds"
        )
        parser.add_argument(
            "--idle",
            action="store_true",
            help="with --every: wait with IMAP IDLE, reading as soon as a reply arrives (at most N s apart)",
        )

    def handle(self, *args, **options):
        if not inbox_configured():
            raise CommandError("No reply inbox: set BLAZON_REPLY_IMAP_HOST and BLAZON_REPLY_ADDRESS.")
        while True:
            try:
                counts = inbox_poll(limit=max(1, options["limit"]))
            except (imaplib.IMAP4.error, OSError, ValueError) as exc:
                if not options["every"]:
                    raise CommandError(f"The reply inbox cannot be read: {exc}") from None
                self.stderr.write(f"The reply inbox cannot be read: {exc}")
                counts = None
            if counts is not None:
                summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing new"
                self.stdout.write(f"Replies: {summary}")
            if not options["every"]:
                return
            seconds = max(5, options["every"])
            if not options["idle"]:
                time.sleep(seconds)
                continue
            try:
                inbox_wait(min(seconds, 29 * 60))  # RFC 2177: renew IDLE within 29 minutes
            except (imaplib.IMAP4.error, OSError, ValueError) as exc:
                self.stderr.write(f"The reply inbox cannot be watched: {exc}")
                time.sleep(seconds)
