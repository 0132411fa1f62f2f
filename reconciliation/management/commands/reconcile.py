"""``manage.py reconcile PROFILE [--dry-run] [--full] [--json]``: run a profile now and print
its summary (``--json``: ``{"situations": {...}, "actions": {...}, "errors": N}``)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from blazon.errors import DomainError
from directory.models import Source
from reconciliation.models import ReconciliationProfile, RunStatus
from reconciliation.services.runs import run_and_execute


class Command(BaseCommand):
    help = "Run a reconciliation profile now and print what it found and did."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("profile", help="The profile's code.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would happen; change nothing.")
        parser.add_argument(
            "--full", action="store_true", help="Apply every row, even when the profile is incremental."
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        profile = ReconciliationProfile.objects.filter(code=options["profile"]).first()
        if profile is None:
            codes = ", ".join(ReconciliationProfile.objects.values_list("code", flat=True)) or "none"
            raise CommandError(f"No reconciliation profile {options['profile']!r} (profiles: {codes}).")
        try:
            run = run_and_execute(
                actor=None,
                source=Source.AUTOMATIC,
                profile=profile,
                dry_run=options["dry_run"],
                full=True if options["full"] else None,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        summary = {"situations": run.situations, "actions": run.actions, "errors": run.errors}
        if options["json"]:
            self.stdout.write(json.dumps({**summary, "run": run.pk, "status": run.status}, sort_keys=True))
        else:
            self.stdout.write(f"Run #{run.pk} of {profile.name}: {run.get_status_display()}"
                              + (" (dry run: nothing changed)" if run.dry_run else ""))  # fmt: skip
            for title, counts in (("Situations", run.situations), ("Actions", run.actions)):
                self.stdout.write(f"{title}:")
                for name, n in sorted(counts.items()):
                    self.stdout.write(f"  {name or '-'}: {n}")
            self.stdout.write(f"Row errors: {run.errors}")
            if run.error:
                self.stdout.write(run.error)
        if run.status == RunStatus.FAILED:
            raise CommandError(run.error)
