"""``manage.py scim_client_register NAME [--read-only]``: register a SCIM client; its bearer
token is the last word of the output (shown once)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from blazon.errors import DomainError
from scim.models import ScimScope
from scim.services.clients import scim_client_register


class Command(BaseCommand):
    help = "Register a SCIM client (Okta, Entra ID, an HR system) and print its bearer token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--read-only", action="store_true", help="Only GET (no writes).")
        parser.add_argument(
            "--groups",
            action="store_true",
            help="May also create groups (empty roles) and rename or delete the ones it created.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scope = ScimScope.READ if options["read_only"] else ScimScope.WRITE
        try:
            client, raw = scim_client_register(
                actor=None, name=options["name"], scope=scope, manage_groups=options["groups"]
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Registered SCIM client {client.name!r} (scope {client.scope}"
            f"{', creates groups' if client.manage_groups else ''}, acting as "
            f"{client.user.username}). Base URL: <your Blazon>/scim/v2/. "
            f"Keep this bearer token, it is not shown again: {raw}"
        )
