"""Re-wrap every secret's data key under a master key version (default: the newest)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from blazon.errors import DomainError
from vault import crypto
from vault.selectors import secrets_count_by_key_version
from vault.services import RewrapIncomplete, secrets_rewrap


class Command(BaseCommand):
    help = (
        "Re-wrap the data keys of all secrets under a master key version (the newest by default). "
        "Safe to run while Blazon is serving; idempotent and resumable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to-version", type=int, default=None, help="Target master key version.")
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Secrets per transaction (default 500)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only show how many secrets each key version wraps."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ring = crypto.keyring()
        except Exception as exc:  # ImproperlyConfigured: say it plainly, no traceback
            raise CommandError(str(exc)) from None
        target = options["to_version"] if options["to_version"] is not None else ring.current_version
        configured = ", ".join(map(str, ring.versions))
        if target not in ring.keys:
            # Refused before anything else, also for --dry-run: a plan towards a key that is
            # not configured would be a plan that cannot run.
            raise CommandError(
                f"Master key version {target} is not configured in BLAZON_VAULT_KEYS (configured: {configured}). "
                "Add it to BLAZON_VAULT_KEYS on every process first."
            )
        counts = secrets_count_by_key_version()
        self.stdout.write(f"Configured master key versions: {configured}; target {target}")
        self.stdout.write(f"Secrets by master key version: {_summary(counts)}")
        orphaned = {v: n for v, n in counts.items() if v not in ring.keys}
        if orphaned:
            self.stdout.write(
                self.style.WARNING(
                    f"{sum(orphaned.values())} secret(s) are wrapped by master key versions that are not configured "
                    f"({', '.join(f'v{v}' for v in sorted(orphaned))}): they cannot be revealed or re-wrapped "
                    "until that key is added back to BLAZON_VAULT_KEYS."
                )
            )
        if options["dry_run"]:
            pending = sum(n for v, n in counts.items() if v != target)
            self.stdout.write(f"Dry run: {pending} secret(s) would be re-wrapped to version {target}.")
            return

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"  re-wrapped {done}/{total}")

        try:
            count = secrets_rewrap(to_version=target, batch_size=options["batch_size"], progress=progress)
        except RewrapIncomplete as exc:
            self.stdout.write(
                f"Secrets by master key version now: {_summary(secrets_count_by_key_version())}"
            )
            raise CommandError(f"Incomplete: {exc}. Run the command again once the cause is fixed.") from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Secrets by master key version now: {_summary(secrets_count_by_key_version())}")
        self.stdout.write(self.style.SUCCESS(f"Re-wrapped {count} secret(s) to master key version {target}."))


def _summary(counts: dict[int, int]) -> str:
    return ", ".join(f"v{v}: {n}" for v, n in sorted(counts.items())) or "no secrets"
