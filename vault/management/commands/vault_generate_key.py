"""Print a new master key entry for BLAZON_VAULT_KEYS (``<version>:<base64 of 32 random bytes>``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from vault.crypto import generate_master_key, parse_vault_keys


class Command(BaseCommand):
    help = "Print a new vault master key entry to add to BLAZON_VAULT_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--key-version",
            dest="key_version",
            type=int,
            default=None,
            help="Version number of the new key (default: one above the highest configured, or 1).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        version = options["key_version"]
        if version is None:
            raw = getattr(settings, "BLAZON_VAULT_KEYS", "") or ""
            try:
                configured = parse_vault_keys(raw)
            except ImproperlyConfigured as exc:
                raise CommandError(f"{exc} (or pass --key-version)") from None
            version = max(configured, default=0) + 1
        if version < 1:
            raise CommandError("--key-version must be a positive integer")
        self.stdout.write(f"{version}:{generate_master_key()}")
        self.stderr.write(
            "Append this entry to BLAZON_VAULT_KEYS (comma-separated), deploy, then run "
            "`python manage.py vault_rewrap`. Keep it secret and back it up: without it the "
            "secrets it wraps cannot be read."
        )
